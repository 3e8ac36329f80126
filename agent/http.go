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
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": len(reasons) == 0, "reasons": reasons, "warnings": a.m.health.Warnings()})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = a.writeMetrics(w)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := a.writePage(w); err != nil {
			a.log.Error("status page", "err", err)
		}
	})
	return mux
}

// unhealthy lists why the agent is not doing its job right now: the
// health warnings of severity error.
func (a *Agent) unhealthy() []string {
	var out []string
	for _, w := range a.warnings() {
		if w.Severity == SevError {
			out = append(out, w.Code+": "+w.Message)
		}
	}
	return out
}
