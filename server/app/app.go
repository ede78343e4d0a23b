// Package app wires the server together: storage, tokens, REST, signaling.
// Tests start the whole server in-process with it; cmd/stageserver is a thin
// main around it.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/server/presets"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
)

// Config configures the server.
type Config struct {
	APIKey         string
	DataDir        string
	PresetsFile    string
	Grace          time.Duration
	TokenTTL       time.Duration
	AllowedOrigins []string
	Logger         *slog.Logger
}

// App is a running server's parts.
type App struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	auth  *auth.Authenticator
	hub   *signal.Hub
	mux   *http.ServeMux
	http  *http.Server
}

// New opens the store and builds the handlers.
func New(cfg Config) (*App, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("an admin API key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	reg, err := presets.Load(cfg.PresetsFile)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	au, err := auth.New(context.Background(), auth.Options{Store: st, Presets: reg, TTL: cfg.TokenTTL})
	if err != nil {
		st.Close()
		return nil, err
	}
	hub := signal.NewHub(signal.Config{Auth: au, Grace: cfg.Grace, OriginPatterns: cfg.AllowedOrigins, Logger: cfg.Logger})
	a := &App{cfg: cfg, log: cfg.Logger, store: st, auth: au, hub: hub, mux: http.NewServeMux()}
	rest.New(cfg.APIKey, st, au, reg, hub, cfg.Logger).Register(a.mux)
	a.mux.Handle("GET /v1/ws", hub)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	return a, nil
}

// Handler is the server's whole HTTP surface.
func (a *App) Handler() http.Handler { return a.mux }

// Mux lets callers mount more routes (static files, demo) before serving.
func (a *App) Mux() *http.ServeMux { return a.mux }

// Hub is the signaling hub.
func (a *App) Hub() *signal.Hub { return a.hub }

// Store is the storage.
func (a *App) Store() *store.Store { return a.store }

// Auth issues and verifies tokens.
func (a *App) Auth() *auth.Authenticator { return a.auth }

// Serve serves on ln until Shutdown.
func (a *App) Serve(ln net.Listener) error {
	a.http = &http.Server{Handler: a.mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	err := a.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes every signaling connection, waits for
// handlers up to ctx, then closes the store.
func (a *App) Shutdown(ctx context.Context) error {
	var err error
	a.hub.Close()
	if a.http != nil {
		err = a.http.Shutdown(ctx)
	}
	return errors.Join(err, a.store.Close())
}
