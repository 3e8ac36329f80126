module canary

go 1.26.8

require (
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/goburrow/modbus v0.1.0
	github.com/goburrow/serial v0.1.0
	github.com/google/go-cmp v0.7.0
	github.com/gopcua/opcua v0.9.1
	github.com/gorilla/websocket v1.5.3
	github.com/mochi-mqtt/server/v2 v2.7.9
	github.com/prometheus/common v0.73.1
	github.com/simonvetter/modbus v1.6.4
	go.etcd.io/bbolt v1.5.0
	gopkg.in/yaml.v3 v3.0.1
	periph.io/x/conn/v3 v3.7.3
	periph.io/x/host/v3 v3.8.5
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/jonboulle/clockwork v0.5.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pandatix/go-abnf v0.5.3 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sync v0.20.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// paho v1.5.1 with one change: a publish reuses its packet buffer instead
// of a new one as large as its payload
// (third_party/paho.mqtt.golang/CANARY.md).
replace github.com/eclipse/paho.mqtt.golang v1.5.1 => ./third_party/paho.mqtt.golang
