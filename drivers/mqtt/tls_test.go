package mqtt_test

import (
	"testing"

	"canary/config"
	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

func TestTLS(t *testing.T) {
	pki := mqtttest.NewTestPKI(t)
	other := mqtttest.NewTestPKI(t)
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{TLS: pki.ServerTLS(false)})
	mtls := mqtttest.StartBroker(t, mqtttest.BrokerOptions{TLS: pki.ServerTLS(true)})
	tests := []struct {
		name   string
		broker *mqtttest.Broker
		tls    config.TLS
		ok     bool
	}{
		{"verified", b, config.TLS{CAFile: pki.CAFile}, true},
		{"server name localhost", b, config.TLS{CAFile: pki.CAFile, ServerName: "localhost"}, true},
		{"wrong CA", b, config.TLS{CAFile: other.CAFile}, false},
		{"wrong server name", b, config.TLS{CAFile: pki.CAFile, ServerName: "platform.example"}, false},
		{"system roots", b, config.TLS{}, false},
		{"insecure skip verify", b, config.TLS{CAFile: other.CAFile, InsecureSkipVerify: true}, true},
		{"mutual TLS", mtls, config.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}, true},
		{"mutual TLS without client cert", mtls, config.TLS{CAFile: pki.CAFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.MQTT{URL: tt.broker.URL(), ClientID: "tls-" + t.Name(), TLS: tt.tls}
			s, err := mqtt.FromConfig(c, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(testCtx(t)) })
			err = s.Connect(testCtx(t))
			if tt.ok != (err == nil) {
				t.Fatalf("Connect: err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				t.Logf("refused as expected: %v", err)
				return
			}
			d := s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("x")})
			if err := await(t, d); err != nil {
				t.Fatalf("publish over TLS: %v", err)
			}
		})
	}
}
