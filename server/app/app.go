// Package app wires the whole server together: storage, presets, tokens,
// REST, signaling. Tests start the complete server in-process with it;
// cmd/stageserver is a thin main around it.
//
// Routes of Handler():
//
//	GET  /healthz   200 {"status":"ok"}, or 503 when the database does not answer
//	GET  /readyz    200 when the database (and, clustered, Redis) answer, else 503 naming what does not
//	GET  /metrics   Prometheus metrics (rooms, connections, stage actions, media packets, leases)
//	     /v1/ws     the signaling WebSocket (server/signal)
//	     /v1/...    the admin REST API (server/rest)
//
// More routes (the SDK under /sdk/, the demo under /demo/) are mounted on
// Mux() by their own packages. Every route but /healthz first checks the
// Host header (hosts.go): a name that is not the server's is refused with
// 403 (DNS rebinding).
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/server/cluster"
	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/demo"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/static"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/server/webhook"
	"github.com/stagekit/stagekit/stage"
)

// Config configures the server. Zero values take the defaults noted.
type Config struct {
	Addr        string        // for ListenAndServe; default 127.0.0.1:8080
	APIKey      string        // admin key; empty: a random one is generated and logged once
	DataDir     string        // default ./data
	PresetsFile string        // optional JSON presets file (see server/config)
	Grace       time.Duration // how long a dropped user keeps its place; default 20s
	// HostTick is how long events bound for hosts are coalesced (see
	// signal.Config.HostTick); 0: the hub's default.
	HostTick time.Duration
	TokenTTL time.Duration // default 24h
	// AllowedOrigins are the page origins (host patterns, e.g.
	// "localhost:*") allowed to open the WebSocket; empty: the server's own
	// host only.
	AllowedOrigins []string
	// AllowedHosts are more names (path.Match patterns, e.g.
	// "*.example.com") the server answers to in the Host header, besides IP
	// addresses, localhost on loopback, the listen address's name and the
	// hosts of AllowedOrigins; any other Host is refused with 403 (DNS
	// rebinding).
	AllowedHosts []string
	Logger       *slog.Logger // default slog.Default()
	// DemoMode marks a server started for the demo (`stageserver -demo`).
	// The core server behaves the same; the demo's own mount reads it.
	DemoMode bool
	// DemoLimits rate-limits the demo API per client address; zero fields
	// take demo.DefaultLimits.
	DemoLimits demo.Limits
	// Media is the media server the hub hands media signaling to; nil runs
	// the built-in SFU with MediaConfig.
	Media signal.MediaHandler
	// MediaConfig configures the built-in SFU (ICE servers, UDP ports,
	// NAT 1:1 addresses); its Logger defaults to the server's.
	MediaConfig sfu.Config
	// WebDir, when set, is served as the browser SDK (WebDir/sdk at /sdk/)
	// and the demo (WebDir/demo at /demo/).
	WebDir string
	// PostgresURL, when set, keeps everything in that PostgreSQL database
	// instead of the SQLite file in DataDir: a cluster's nodes share one.
	PostgresURL string
	// Cluster, when set, makes this server one node of a cluster: rooms
	// are placed on nodes by leases in Redis (server/cluster). It needs
	// PostgresURL.
	Cluster *cluster.Config
	// Edges, in a cluster, serves here the users of rooms other nodes own
	// (signaling only: their media stays on the owner) instead of
	// redirecting them there.
	Edges bool
	// StageLimits are the stage limits of meetings without their own
	// (set over REST).
	StageLimits stage.Limits
	// Webhooks tunes the webhook deliverer (tests shorten its retry
	// schedule); its Store, NodeID and Logger are the server's.
	Webhooks webhook.Options
}

// Defaults.
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultDataDir = "./data"
	DefaultGrace   = 20 * time.Second
)

// App is the server's parts.
type App struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	node    *cluster.Node // nil unless clustered
	relays  *relays       // media between nodes: with Edges and the built-in SFU
	metrics *metrics
	presets *config.Presets
	auth    *auth.Authenticator
	hub     *signal.Hub
	liveHub atomic.Pointer[signal.Hub] // a.hub, for the SFU's liveness callback
	hooks   *webhook.Deliverer
	keeper  *presetKeeper
	sfu     *sfu.SFU // the built-in media server, nil when Config.Media is set
	mux     *http.ServeMux
	hosts   *hostGuard
	srv     *http.Server

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens the store, loads the presets and builds the handlers. The caller
// must call Shutdown to release the store, served or not.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Grace < 0 || cfg.TokenTTL < 0 {
		return nil, fmt.Errorf("negative duration: grace %v, token TTL %v", cfg.Grace, cfg.TokenTTL)
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = auth.DefaultTTL
	}
	log := cfg.Logger

	presets, err := config.LoadPresets(cfg.PresetsFile)
	if err != nil {
		return nil, err
	}
	if cfg.Cluster != nil && cfg.PostgresURL == "" {
		return nil, errors.New("a cluster node needs a PostgreSQL URL: the nodes share one database")
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	seedCtx, seedCancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = seedPresets(seedCtx, st, presets, log)
	seedCancel()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("presets: %w", err)
	}
	au, err := auth.New(context.Background(), auth.Options{Store: st, Presets: presets, TTL: cfg.TokenTTL})
	if err != nil {
		st.Close()
		return nil, err
	}
	var node *cluster.Node
	if cfg.Cluster != nil {
		cc := *cfg.Cluster
		if cc.Logger == nil {
			cc.Logger = log.With("component", "cluster")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		node, err = cluster.New(ctx, cc)
		cancel()
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	if cfg.APIKey == "" { // generated last, so that it is logged only by a server that starts
		var b [24]byte
		rand.Read(b[:])
		cfg.APIKey = hex.EncodeToString(b[:])
		log.Warn("no admin API key given; generated one for this run", "api_key", cfg.APIKey)
	}
	a := &App{cfg: cfg, log: log, store: st, node: node, presets: presets, auth: au, mux: http.NewServeMux()}
	if a.cfg.Media == nil {
		mc := cfg.MediaConfig
		if mc.Logger == nil {
			mc.Logger = log.With("component", "sfu")
		}
		// Silent media makes the hub show the participant as reconnecting
		// and check its signaling connection (the hub is made below).
		given := mc.OnLiveness
		mc.OnLiveness = func(meetingID, userID string, live bool) {
			if h := a.liveHub.Load(); h != nil {
				h.MediaLiveness(meetingID, userID, live)
			}
			if given != nil {
				given(meetingID, userID, live)
			}
		}
		mc.Screenshares = hubScreenshares{a}
		if a.sfu, err = sfu.New(mc); err != nil {
			if node != nil {
				node.Close()
			}
			st.Close()
			return nil, fmt.Errorf("media server: %w", err)
		}
		a.cfg.Media = mediaBridge{a.sfu}
	}
	a.metrics = newMetrics(a)
	wo := cfg.Webhooks
	wo.Store, wo.Logger = st, log.With("component", "webhook")
	wo.NodeID = "single" // a restarted single server takes its lease back at once
	if node != nil {
		wo.NodeID = node.ID()
	}
	a.hooks = webhook.New(wo)
	a.hub = a.mountSignal()
	a.liveHub.Store(a.hub)
	if node != nil {
		node.Start(a.hub)
	}
	a.hooks.Start()
	a.keeper = &presetKeeper{store: st, presets: presets, hub: a.hub, log: log.With("component", "presets"), stop: make(chan struct{}), done: make(chan struct{})}
	go a.keeper.follow()
	var rooms rest.RoomRemover = a.hub
	if node != nil {
		rooms = clusterRemover{a.hub, node}
	}
	api, err := rest.New(rest.Options{APIKey: cfg.APIKey, Store: st, Tokens: au, Presets: presets,
		Rooms: rooms, Members: a.hub, Control: a.hub, DefaultLimits: cfg.StageLimits, PresetSink: a.keeper, Logger: log.With("component", "rest")})
	if err != nil {
		a.keeper.close()
		a.hooks.Close()
		a.hub.Close()
		if node != nil {
			node.Close()
		}
		if a.sfu != nil {
			a.sfu.Close()
		}
		st.Close()
		return nil, err
	}
	a.mux.Handle("/v1/", api)
	if node != nil {
		// A room's live stage is on its owner: read and change it there.
		for _, route := range []string{"GET /v1/meetings/{id}/stage", "POST /v1/meetings/{id}/stage/{action}",
			"PUT /v1/meetings/{id}/stage/limits", "GET /v1/meetings/{id}/active-session", "POST /v1/meetings/{id}/active-session/{action}"} {
			a.mux.Handle(route, a.onOwner(api))
		}
	}
	a.mux.HandleFunc("GET /healthz", a.health)
	a.mux.HandleFunc("GET /readyz", a.ready)
	a.mux.Handle("GET /metrics", a.metrics.handler())
	if cfg.WebDir != "" {
		a.mux.Handle("GET /sdk/", static.Handler("/sdk/", filepath.Join(cfg.WebDir, "sdk")))
		a.mux.Handle("GET /demo/", demo.Pages(static.Handler("/demo/", filepath.Join(cfg.WebDir, "demo"))))
	}
	if cfg.DemoMode {
		log.Warn("demo mode: /demo/api/ lets anyone who reaches this server create meetings and host links (see README)")
		a.mux.Handle("POST /demo/api/", demo.New(st, au, log.With("component", "demo"), cfg.DemoLimits))
	}
	a.hosts = newHostGuard(cfg.Addr, cfg.AllowedOrigins, cfg.AllowedHosts)
	a.srv = &http.Server{
		Addr:              cfg.Addr,
		Handler:           a.hosts.wrap(a.mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	clusterAttrs := []any{}
	if node != nil {
		clusterAttrs = append(clusterAttrs, "node", node.ID(), "advertise", cfg.Cluster.Advertise, "lease_ttl", node.LeaseTTL())
	}
	log.Info("server ready", append([]any{"data", st.Path(), "presets", presets.Names(),
		"grace", cfg.Grace, "token_ttl", cfg.TokenTTL, "allowed_origins", cfg.AllowedOrigins,
		"allowed_hosts", cfg.AllowedHosts, "demo", cfg.DemoMode}, clusterAttrs...)...)
	return a, nil
}

// clusterRemover takes a deleted participant out of its room on whichever
// node serves it.
type clusterRemover struct {
	hub  *signal.Hub
	node *cluster.Node
}

func (c clusterRemover) RemoveParticipant(meetingID, userID string) {
	c.hub.RemoveParticipant(meetingID, userID)
	c.node.PublishRemoval(meetingID, userID)
}

// onOwner serves a request about a room here when this node serves the
// room or no node does, and proxies it to the room's owner otherwise.
func (a *App) onOwner(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if a.hub.Serving(id) {
			local.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		owner, err := a.node.Owner(ctx, id)
		cancel()
		target, perr := url.Parse(owner)
		if err != nil || owner == "" || owner == a.node.Advertise() || perr != nil {
			local.ServeHTTP(w, r)
			return
		}
		proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
			ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
		proxy.ServeHTTP(w, r)
	})
}

// openStore opens PostgreSQL when a URL is given, else the SQLite file.
func openStore(cfg Config) (store.Store, error) {
	if cfg.PostgresURL == "" {
		return store.Open(cfg.DataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.OpenPostgres(ctx, cfg.PostgresURL)
}

// mountSignal builds the signaling hub and mounts it at /v1/ws.
func (a *App) mountSignal() *signal.Hub {
	cfg := signal.Config{
		Auth:           a.auth,
		Grace:          a.cfg.Grace,
		HostTick:       a.cfg.HostTick,
		OriginPatterns: a.cfg.AllowedOrigins,
		Logger:         a.log.With("component", "signal"),
		Media:          a.cfg.Media,
		Stage:          stageStore{store: a.store, presets: a.presets, committed: a.hooks.Wake},
		OnStageAction:  a.metrics.stageAction,
		DefaultLimits:  a.cfg.StageLimits,
	}
	if a.sfu != nil {
		cfg.OnPreset = func(meetingID, userID string, p stage.Preset) { a.sfu.SetMayProduce(meetingID, userID, p.MayProduce) }
	}
	if a.node != nil {
		cfg.Placement = a.node
		if a.cfg.Edges {
			cfg.Edges = &signal.EdgeConfig{Streams: newEdgeStreams(a.node), Key: a.cfg.APIKey, Self: a.node.Advertise(),
				Client: &http.Client{Timeout: 5 * time.Second}}
			if a.sfu != nil {
				a.relays = newRelays(a)
				cfg.Edges.Relays = a.relays
				a.mux.HandleFunc("GET "+relayPath, a.relays.serve)
			}
		}
	}
	hub := signal.NewHub(cfg)
	a.mux.Handle("/v1/ws", hub)
	if cfg.Edges != nil {
		a.mux.Handle(signal.EdgeCallPath, http.HandlerFunc(hub.ServeEdgeCall))
	}
	return hub
}

func (a *App) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, body := http.StatusOK, `{"status":"ok"}`
	if err := a.store.Ping(ctx); err != nil {
		status, body = http.StatusServiceUnavailable, `{"status":"unavailable"}`
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body + "\n"))
}

// ready answers whether this server can serve rooms now: its database
// answers and, clustered, Redis does.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	res := map[string]string{"status": "ready", "store": "ok"}
	status := http.StatusOK
	if err := a.store.Ping(ctx); err != nil {
		res["store"], res["status"], status = "unavailable", "unavailable", http.StatusServiceUnavailable
	}
	if a.node != nil {
		res["node"] = a.node.ID()
		res["redis"] = "ok"
		if err := a.node.Ready(ctx); err != nil {
			res["redis"], res["status"], status = "unavailable", "unavailable", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(res)
}

// Config is the effective configuration (defaults filled in, the generated
// API key included).
func (a *App) Config() Config { return a.cfg }

// APIKey is the admin key in force.
func (a *App) APIKey() string { return a.cfg.APIKey }

// Handler is the server's whole HTTP surface, behind the Host check.
func (a *App) Handler() http.Handler { return a.srv.Handler }

// Mux is the hook for mounting more routes (the SDK's and the demo's static
// files); http.ServeMux takes registrations while serving.
func (a *App) Mux() *http.ServeMux { return a.mux }

// Hub is the signaling hub.
func (a *App) Hub() *signal.Hub { return a.hub }

// SFU is the built-in media server, or nil when Config.Media was given.
func (a *App) SFU() *sfu.SFU { return a.sfu }

// Store is the storage.
func (a *App) Store() store.Store { return a.store }

// Node is this server's cluster membership, nil unless clustered.
func (a *App) Node() *cluster.Node { return a.node }

// Presets are the presets in force.
func (a *App) Presets() *config.Presets { return a.presets }

// Auth issues and verifies participant tokens.
func (a *App) Auth() *auth.Authenticator { return a.auth }

// Serve serves on ln until Shutdown, then returns nil; any other failure is
// returned. Call it once.
func (a *App) Serve(ln net.Listener) error {
	a.hosts.servingOn(ln.Addr())
	err := a.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on Config.Addr (Listen) and serves like Serve.
func (a *App) ListenAndServe() error {
	ln, err := Listen(a.cfg.Addr)
	if err != nil {
		return err
	}
	a.log.Info("listening", "url", "http://"+ln.Addr().String())
	return a.Serve(ln)
}

// Listen listens on addr for Serve, without TCP keep-alive: a signaling
// connection is checked by the hub's pings and an idle HTTP connection
// closed after the server's IdleTimeout, while the keep-alive's socket
// options were four system calls per accepted connection (2% of an edge's
// CPU in a join wave).
func Listen(addr string) (net.Listener, error) {
	return (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", addr)
}

// Shutdown stops the server: it closes every signaling connection (1001)
// and refuses new ones, stops accepting, waits up to ctx for REST requests in
// flight, then closes the store. Later calls return the first call's result.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		if a.node != nil {
			// The rooms' leases go first, so that the clients the hub is
			// about to close find the rooms free on the other nodes.
			a.node.Close()
		}
		a.keeper.close()
		a.hub.Close()
		a.hooks.Close()
		if a.relays != nil {
			a.relays.close()
		}
		if a.sfu != nil {
			a.sfu.Close()
		}
		err := a.srv.Shutdown(ctx)
		a.shutdownErr = errors.Join(err, a.store.Close())
	})
	return a.shutdownErr
}
