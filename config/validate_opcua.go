package config

import (
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
)

// OPC UA enums, as written in the config (the spellings of the OPC UA
// specification and of most servers' endpoint lists).
var (
	opcuaModes     = []string{"None", "Sign", "SignAndEncrypt"}
	opcuaPolicies  = []string{"None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"}
	opcuaAuthTypes = []string{"anonymous", "username", "certificate"}
	opcuaReadModes = []string{"subscribe", "poll"}
	opcuaDeadbands = []string{"none", "absolute", "percent"}
)

func (v *checker) opcua(p string, d *Device) {
	v.opcuaEndpoint(p, d)
	v.oneOf(p+".mode", "mode", d.Mode, opcuaReadModes...)
	v.positive(p+".interval", d.Interval)
	v.positive(p+".timeout", d.Timeout)
	v.positive(p+".publish_interval", d.PublishInterval)
	v.opcuaSecurity(p+".security", d)
	v.opcuaAuth(p+".auth", d)
	if d.Transport != "" || d.Address != "" {
		v.errorf(p+".address", "driver opcua uses endpoint, not transport/address")
	}
}

func (v *checker) opcuaEndpoint(p string, d *Device) {
	u, err := url.Parse(d.Endpoint)
	switch {
	case d.Endpoint == "":
		v.errorf(p+".endpoint", "required (opc.tcp://host:port)")
	case err != nil || u.Scheme != "opc.tcp" || u.Hostname() == "" || !validPort(u.Port(), true):
		v.errorf(p+".endpoint", "expected opc.tcp://host:port[/path], got %q", d.Endpoint)
	case d.Security.Mode == "None" && !d.Security.AllowInsecure && !isLoopback(u.Hostname()):
		v.errorf(p+".security.mode", "None sends SIS states unauthenticated to %s; use Sign or SignAndEncrypt, "+
			"or set security.allow_insecure: true to accept it", u.Hostname())
	}
}

func (v *checker) opcuaSecurity(p string, d *Device) {
	s := d.Security
	okMode := v.oneOf(p+".mode", "security mode", s.Mode, opcuaModes...)
	okPolicy := v.oneOf(p+".policy", "security policy", s.Policy, opcuaPolicies...)
	if okMode && okPolicy && (s.Mode == "None") != (s.Policy == "None") {
		v.errorf(p+".policy", "policy %s does not go with mode %s (None goes only with None)", s.Policy, s.Mode)
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		v.errorf(p+".key_file", "cert_file and key_file go together (leave both out to generate them in state_dir)")
	}
	if s.ServerCertSHA256 != "" && !isThumbprint(s.ServerCertSHA256) {
		v.errorf(p+".server_cert_sha256", "expected 64 hex digits (colons allowed), got %q", s.ServerCertSHA256)
	}
	if s.Mode != "None" && s.ServerCertSHA256 == "" && s.TrustDir == "" {
		v.errorf(p+".server_cert_sha256", "required with mode %s (or trust_dir): run `canary probe opcua --endpoint …` to see the thumbprint", s.Mode)
	}
}

func isThumbprint(s string) bool {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	return err == nil && len(b) == 32
}

func (v *checker) opcuaAuth(p string, d *Device) {
	a := d.Auth
	if !v.oneOf(p+".type", "auth type", a.Type, opcuaAuthTypes...) {
		return
	}
	switch a.Type {
	case "username":
		if a.Username == "" {
			v.errorf(p+".username", "required for auth type username")
		}
		if a.PasswordFile == "" {
			v.errorf(p+".password_file", "required for auth type username (or set it empty and use CANARY_OPCUA_PASSWORD)")
		}
	case "certificate":
		if a.CertFile == "" || a.KeyFile == "" {
			v.errorf(p+".cert_file", "cert_file and key_file are required for auth type certificate")
		}
	}
	if a.Type != "anonymous" && d.Security.Mode == "None" {
		v.errorf(p+".type", "auth %s over security mode None would send the credentials unprotected", a.Type)
	}
}

// nodeID matches the OPC UA string forms: an optional ns=N; or nsu=URI;
// then i=, s=, g= or b=.
var nodeID = regexp.MustCompile(`^(ns=\d+;|nsu=[^;]+;)?(i=\d+|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)$`)

func (v *checker) opcuaPoint(p string, pt *Point) {
	switch {
	case pt.Node == "":
		v.errorf(p+".node", "required for driver opcua (e.g. ns=2;s=ESD01.Tripped or nsu=urn:plant:sis;s=ESD01.Tripped)")
	case !nodeID.MatchString(pt.Node):
		v.errorf(p+".node", "expected a node id like ns=2;s=Name, nsu=urn:…;i=42, i=2258, got %q", pt.Node)
	}
	if pt.SamplingInterval < 0 {
		v.errorf(p+".sampling_interval", "must not be negative, got %s", pt.SamplingInterval)
	}
	v.intRange(p+".queue_size", pt.QueueSize, 0, 1000, "")
	if v.oneOf(p+".deadband_type", "deadband type", pt.DeadbandType, opcuaDeadbands...) {
		switch {
		case pt.DeadbandValue < 0:
			v.errorf(p+".deadband_value", "must not be negative, got %g", pt.DeadbandValue)
		case pt.DeadbandType == "percent" && pt.DeadbandValue > 100:
			v.errorf(p+".deadband_value", "a percent deadband is 0..100, got %g", pt.DeadbandValue)
		}
	}
}
