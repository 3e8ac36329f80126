package opcua

import (
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"canary/drivers"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		st ua.StatusCode
		q  drivers.Quality
		r  drivers.Reason
	}{
		{ua.StatusOK, drivers.Good, drivers.ReasonNone},
		{ua.StatusCode(0x00000400), drivers.Good, drivers.ReasonNone}, // info bits
		{ua.StatusUncertainLastUsableValue, drivers.Uncertain, drivers.ReasonComm},
		{ua.StatusUncertainEngineeringUnitsExceeded, drivers.Uncertain, drivers.ReasonOutOfRange},
		{ua.StatusBadNodeIDUnknown, drivers.Bad, drivers.ReasonConfig},
		{ua.StatusBadTypeMismatch, drivers.Bad, drivers.ReasonConfig},
		{ua.StatusBadSensorFailure, drivers.Bad, drivers.ReasonSensorFault},
		{ua.StatusBadDeviceFailure, drivers.Bad, drivers.ReasonSensorFault},
		{ua.StatusBadOutOfRange, drivers.Bad, drivers.ReasonOutOfRange},
		{ua.StatusBadOutOfService, drivers.Bad, drivers.ReasonMaintenance},
		{ua.StatusBadTimeout, drivers.Bad, drivers.ReasonComm},
		{ua.StatusBadCommunicationError, drivers.Bad, drivers.ReasonComm},
		{ua.StatusBadNoCommunication | 0x0400, drivers.Bad, drivers.ReasonComm},
	}
	for _, c := range cases {
		q, r := classify(c.st)
		if q != c.q || r != c.r {
			t.Errorf("classify(%v) = %v/%v, want %v/%v", c.st, q, r, c.q, c.r)
		}
	}
}

func TestParseNode(t *testing.T) {
	for _, c := range []struct {
		in   string
		ns   []string
		want string
	}{
		{"ns=2;s=ESD01.Tripped", nil, "ns=2;s=ESD01.Tripped"},
		{"i=2258", nil, "i=2258"},
		{"nsu=urn:plant:sis;s=ESD01", []string{"http://opcfoundation.org/UA/", "urn:other", "urn:plant:sis"}, "ns=2;s=ESD01"},
		{"nsu=urn:plant:sis;i=42", []string{"http://opcfoundation.org/UA/", "urn:plant:sis"}, "ns=1;i=42"},
		{"ns=3;g=5cd5a1c8-1b3c-4c6a-9f7c-8e1b2a3c4d5e", nil, "ns=3;g=5CD5A1C8-1B3C-4C6A-9F7C-8E1B2A3C4D5E"},
	} {
		r, err := parseNode(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		id, err := r.resolve(c.ns)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if id.String() != c.want {
			t.Errorf("%s → %s, want %s", c.in, id, c.want)
		}
	}
	if _, err := parseNode("nsu=urn:x;ns=2;s=a"); err == nil {
		t.Error("nsu with ns accepted")
	}
	r, _ := parseNode("nsu=urn:missing;s=a")
	if _, err := r.resolve([]string{"http://opcfoundation.org/UA/"}); err == nil {
		t.Error("unknown namespace URI resolved")
	}
}

// invert reports the opposite level of a boolean, as Modbus and GPIO do,
// and leaves other types and bad values alone.
func TestSampleInvert(t *testing.T) {
	now := time.Unix(1764388800, 0)
	good := func(v any) *ua.DataValue {
		return &ua.DataValue{Value: ua.MustVariant(v), Status: ua.StatusOK, SourceTimestamp: now}
	}
	inv := &point{id: "ESD-01.trip", invert: true}
	if s := sample(inv, good(true), now); s.Value.Bool() || s.Value.Kind() != drivers.KindBool {
		t.Errorf("inverted true: %v", s.Value)
	}
	if s := sample(&point{id: "x"}, good(true), now); !s.Value.Bool() {
		t.Errorf("plain true: %v", s.Value)
	}
	if s := sample(inv, good(int32(5)), now); s.Value.Float() != 5 {
		t.Errorf("invert touched a number: %v", s.Value)
	}
	if s := sample(inv, &ua.DataValue{Value: ua.MustVariant(true), Status: ua.StatusBadSensorFailure}, now); s.Quality != drivers.Bad || s.Value.Kind() != drivers.KindNone {
		t.Errorf("bad value: %+v", s)
	}
}
