package config

import (
	"strings"
	"testing"
)

// A cluster is a list under urls; each node is checked like url, and url
// and urls together are an error.
func TestBrokerURLs(t *testing.T) {
	base := "version: 1\nsite: {id: s1, gateway: gw}\nplatform:\n  mqtt:\n"
	c, err := Parse("c.yaml", []byte(base+"    urls: [tls://a.example:8883, tls://b.example:8883]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Platform.MQTT.Brokers(); len(got) != 2 || got[1] != "tls://b.example:8883" {
		t.Errorf("Brokers() = %v", got)
	}
	if c.Platform.Commands.ApplyTimeout.D().String() != "5m0s" {
		t.Errorf("apply_timeout default %s", c.Platform.Commands.ApplyTimeout)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"    urls: [tls://a.example:8883, tcp://b.example:1883]\n", "c.yaml:5: platform.mqtt.urls[1]: tcp:// sends credentials"},
		{"    url: tls://a.example:8883\n    urls: [tls://b.example:8883]\n", "platform.mqtt.urls: give url or urls, not both"},
		{"    urls: []\n", "platform.mqtt.url: required"},
	} {
		_, err := Parse("c.yaml", []byte(base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
