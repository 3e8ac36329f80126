package opcua

import "errors"

// Sentinel errors of the driver. Wrapped errors keep them for errors.Is.
var (
	// ErrConfig: a device or point cannot be built from its config.
	ErrConfig = errors.New("opcua: config")
	// ErrUntrustedServer: the server's certificate is neither pinned nor in
	// the trust list. The message carries its SHA-256 thumbprint.
	ErrUntrustedServer = errors.New("opcua: untrusted server certificate")
	// ErrNoEndpoint: the server offers no endpoint with the configured
	// security policy and mode.
	ErrNoEndpoint = errors.New("opcua: no matching endpoint")
	// ErrConnLost: the channel or session died; Run reconnects.
	ErrConnLost = errors.New("opcua: connection lost")
)
