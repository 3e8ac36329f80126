package mqtt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"canary/config"
	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
		o                  mqtt.Options
	}{
		{name: "tcp", url: "tcp://broker:1883"},
		{name: "mqtt scheme", url: "mqtt://broker"},
		{name: "mqtts scheme", url: "mqtts://broker"},
		{name: "wss", url: "wss://broker/mqtt"},
		{name: "http", url: "http://broker", wantErr: "scheme"},
		{name: "no scheme", url: "broker:1883", wantErr: "scheme"},
		{name: "no host", url: "tcp://:1883", wantErr: "no host"},
		{name: "bad url keeps password out", url: "tcp://u:hunter2@[::1", wantErr: "url"},
		{name: "inflight", url: "tcp://b:1", o: mqtt.Options{MaxInflight: 70000}, wantErr: "max_inflight"},
		{name: "will topic", url: "tcp://b:1", o: mqtt.Options{Will: &drivers.Message{}}, wantErr: "will"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.URL = tt.url
			_, err := mqtt.New(tt.o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New(%q): %v", tt.url, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%q): err = %v, want %q", tt.url, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestEndpointHasNoCredentials(t *testing.T) {
	s, err := mqtt.New(mqtt.Options{URL: "ssl://canary:hunter2@platform.example:8883"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Endpoint(), "ssl://platform.example:8883"; got != want {
		t.Fatalf("Endpoint = %q, want %q", got, want)
	}
}

func TestTLSConfig(t *testing.T) {
	pki := mqtttest.NewTestPKI(t)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     config.TLS
		wantErr string
	}{
		{"ca", config.TLS{CAFile: pki.CAFile}, ""},
		{"client cert", config.TLS{CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}, ""},
		{"missing ca", config.TLS{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "ca_file"},
		{"ca without certs", config.TLS{CAFile: junk}, "no PEM certificates"},
		{"cert without key", config.TLS{CertFile: pki.ClientCertFile}, "go together"},
		{"bad key pair", config.TLS{CertFile: pki.ClientCertFile, KeyFile: pki.ServerKeyFile}, "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := mqtt.TLSConfig(tt.tls)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.MinVersion < 0x0303 || tc.InsecureSkipVerify {
				t.Fatalf("weak TLS config: min %x, insecure %v", tc.MinVersion, tc.InsecureSkipVerify)
			}
		})
	}
}
