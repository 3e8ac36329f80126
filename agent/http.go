package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"
)

// serveHTTP starts the local status server when http.listen is set
// (127.0.0.1 by default: never reachable from the plant network unless IT
// says so). It returns a function that stops it.
func (a *Agent) serveHTTP() (stop func()) {
	addr := a.cfg.HTTP.Listen
	if addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.log.Error("status server not started", "listen", addr, "err", err)
		return func() {}
	}
	a.log.Info("status server", "listen", ln.Addr().String())
	srv := &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("status server", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

func (a *Agent) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.status("online"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reasons := a.unhealthy()
		w.Header().Set("Content-Type", "application/json")
		if len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": len(reasons) == 0, "reasons": reasons})
	})
	return mux
}

// unhealthy lists why the agent is not doing its job right now.
func (a *Agent) unhealthy() []string {
	var out []string
	if up, _, lastErr := a.fwd.link(); !up {
		out = append(out, "uplink down: "+lastErr)
	}
	for _, ds := range a.pipe.devices {
		if st := ds.status(); st.State == "offline" {
			out = append(out, "device "+st.ID+" offline: "+st.LastError)
		}
	}
	return out
}
