// Command stageserver is the stage server: REST, signaling and storage in
// one binary with an embedded database; no outside service is needed.
//
//	stageserver [-addr 127.0.0.1:8080] [-api-key KEY] [-data ./data] [-presets FILE]
//	            [-grace 20s] [-host-tick 10ms] [-token-ttl 24h] [-allowed-origins 'localhost:*,…']
//	            [-allowed-hosts 'stage.example.com,…']
//	            [-log-level info] [-log-format text] [-demo [-demo-public]]
//	            [-postgres URL] [-cluster -redis URL -postgres URL -node-id ID -advertise http://host:port [-lease-ttl 5s]]
//
// -cluster runs the server as one node of a cluster (see the README's
// "Running a cluster"): every node shares one PostgreSQL database and one
// Redis, which places each room on one node.
//
// Every flag falls back to an environment variable (STAGEKIT_ADDR,
// STAGEKIT_API_KEY, …; see -help); a flag given on the command line wins.
// Without an admin key a random one is generated and logged once.
// SIGINT or SIGTERM shut it down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/cluster"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/stage"
)

// shutdownTimeout bounds the wait for REST requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := parse(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stageserver:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		cfg.Logger.Error("stageserver stopped", "err", err)
		os.Exit(1)
	}
}

// parse reads the flags, falling back to the environment (lookup).
func parse(args []string, lookup func(string) (string, bool), stderr io.Writer) (app.Config, error) {
	fs := flag.NewFlagSet("stageserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErrs []error
	str := func(name, env, def, usage string) *string {
		if v, ok := lookup(env); ok {
			def = v
		}
		return fs.String(name, def, usage+" ($"+env+")")
	}
	dur := func(name, env string, def time.Duration, usage string) *time.Duration {
		if v, ok := lookup(env); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("$%s: %w", env, err))
			}
			def = d
		}
		return fs.Duration(name, def, usage+" ($"+env+")")
	}
	boolean := func(name, env string, def bool, usage string) *bool {
		if v, ok := lookup(env); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("$%s: %q is not a boolean", env, v))
			}
			def = b
		}
		return fs.Bool(name, def, usage+" ($"+env+")")
	}

	addr := str("addr", "STAGEKIT_ADDR", app.DefaultAddr, "listen address")
	apiKey := str("api-key", "STAGEKIT_API_KEY", "", "admin API key for the REST API; empty: generate one and log it")
	dataDir := str("data", "STAGEKIT_DATA", app.DefaultDataDir, "data directory (holds stagekit.db)")
	presets := str("presets", "STAGEKIT_PRESETS", "", "JSON file of presets to add to or override the built-ins")
	grace := dur("grace", "STAGEKIT_GRACE", app.DefaultGrace, "how long a dropped user keeps its place")
	ttl := dur("token-ttl", "STAGEKIT_TOKEN_TTL", 24*time.Hour, "participant token lifetime")
	hostTick := dur("host-tick", "STAGEKIT_HOST_TICK", 0, "how long events for hosts are coalesced into one batch (0: the default, 10ms; negative: none)")
	origins := str("allowed-origins", "STAGEKIT_ALLOWED_ORIGINS", "",
		"comma-separated page origin patterns (e.g. 'localhost:*') allowed to open the WebSocket; empty: the server's own host only")
	hosts := str("allowed-hosts", "STAGEKIT_ALLOWED_HOSTS", "",
		"comma-separated host names (patterns, e.g. '*.example.com') the server answers to besides IP addresses, localhost on loopback, the -addr name and the -allowed-origins hosts; other Host headers get 403")
	level := str("log-level", "STAGEKIT_LOG_LEVEL", "info", "debug, info, warn or error")
	format := str("log-format", "STAGEKIT_LOG_FORMAT", "text", "text or json")
	demo := boolean("demo", "STAGEKIT_DEMO", false, "run for the demo (make demo): an unauthenticated API that hands out meetings and host links; loopback -addr only, see -demo-public")
	demoPublic := boolean("demo-public", "STAGEKIT_DEMO_PUBLIC", false, "let -demo listen on a non-loopback -addr: anyone who reaches it can create meetings")
	udpPorts := str("udp-ports", "STAGEKIT_UDP_PORTS", "", "media UDP port range MIN-MAX for ICE, a port per peer connection, instead of one shared socket (more CPU per forwarded packet)")
	udpListen := str("udp-listen", "STAGEKIT_UDP_LISTEN", "", "the one UDP address (e.g. ':50000') that every media peer connection shares; empty: any free port")
	natIPs := str("nat-ips", "STAGEKIT_NAT_IPS", "", "comma-separated public IPs of a server behind 1:1 NAT, announced in ICE candidates")
	iceServers := str("ice-servers", "STAGEKIT_ICE_SERVERS", "", "comma-separated STUN/TURN URLs for the media server's peer connections")
	web := str("web", "STAGEKIT_WEB", "web", "directory served as the SDK (<dir>/sdk at /sdk/) and the demo (<dir>/demo at /demo/); empty: none")
	clustered := boolean("cluster", "STAGEKIT_CLUSTER", false, "run as one node of a cluster: needs -redis, -postgres, -node-id and -advertise")
	redisURL := str("redis", "STAGEKIT_REDIS_URL", "", "Redis URL (redis://host:port/db) that places rooms on a cluster's nodes")
	pgURL := str("postgres", "STAGEKIT_POSTGRES_URL", "", "PostgreSQL URL (postgres://user@host:port/db) to store everything in instead of -data's SQLite file; a cluster's nodes share it")
	nodeID := str("node-id", "STAGEKIT_NODE_ID", "", "this node's id in the cluster, unique and stable across restarts")
	advertise := str("advertise", "STAGEKIT_ADVERTISE", "", "this node's base URL as clients reach it (http://host:port); clients of its rooms are redirected there")
	maxOnStage := fs.Int("max-on-stage", 0, "default most users on stage (ON_STAGE or invited) per meeting; 0: no limit; a meeting's own limit (REST) wins")
	requestTimeout := dur("request-timeout", "STAGEKIT_REQUEST_TIMEOUT", 0, "default time a stage request waits before it expires; 0: never")
	inviteTimeout := dur("invitation-timeout", "STAGEKIT_INVITATION_TIMEOUT", 0, "default time an invitation (a grant) waits for the user to join; 0: never")
	pacing := boolean("pacing", "STAGEKIT_PACING", true, "pace what goes to each viewer to its downlink estimate; false: send every packet at once, as the presenter sent it")
	edges := boolean("edges", "STAGEKIT_EDGES", false, "with -cluster: serve the users of rooms other nodes own here (signaling only), instead of redirecting them")
	leaseTTL := dur("lease-ttl", "STAGEKIT_LEASE_TTL", cluster.DefaultLeaseTTL, "how long a room's lease outlives its owner's last renewal: a dead node's rooms move after this")

	if err := fs.Parse(args); err != nil {
		return app.Config{}, err
	}
	if fs.NArg() > 0 {
		return app.Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if len(envErrs) > 0 {
		return app.Config{}, errors.Join(envErrs...)
	}
	if *grace <= 0 {
		return app.Config{}, fmt.Errorf("-grace must be positive, got %v", *grace)
	}
	if *ttl <= 0 {
		return app.Config{}, fmt.Errorf("-token-ttl must be positive, got %v", *ttl)
	}
	if *maxOnStage < 0 || *requestTimeout < 0 || *inviteTimeout < 0 {
		return app.Config{}, errors.New("-max-on-stage, -request-timeout and -invitation-timeout must not be negative")
	}
	if *demo && !*demoPublic && !isLoopback(*addr) {
		return app.Config{}, fmt.Errorf("-demo serves an unauthenticated API that creates meetings and host links, "+
			"and -addr %q is not a loopback address; add -demo-public if you mean to offer it to everyone who can reach it", *addr)
	}
	logger, err := newLogger(*level, *format, stderr)
	if err != nil {
		return app.Config{}, err
	}
	media := sfu.Config{NAT1To1IPs: splitList(*natIPs), Unpaced: !*pacing}
	if urls := splitList(*iceServers); len(urls) > 0 {
		media.ICEServers = []webrtc.ICEServer{{URLs: urls}}
	}
	if *udpPorts != "" && *udpListen != "" {
		return app.Config{}, errors.New("-udp-ports and -udp-listen exclude each other")
	}
	media.UDPListen = *udpListen
	if *udpPorts != "" {
		var lo, hi uint16
		if _, err := fmt.Sscanf(*udpPorts, "%d-%d", &lo, &hi); err != nil || lo == 0 || hi < lo {
			return app.Config{}, fmt.Errorf("-udp-ports %q: want MIN-MAX, e.g. 50000-50100", *udpPorts)
		}
		media.UDPPortMin, media.UDPPortMax = lo, hi
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	cfg := app.Config{
		Addr: *addr, APIKey: *apiKey, DataDir: *dataDir, PresetsFile: *presets,
		Grace: *grace, HostTick: *hostTick, TokenTTL: *ttl, AllowedOrigins: allowed, AllowedHosts: splitList(*hosts), Logger: logger, DemoMode: *demo, WebDir: *web, MediaConfig: media,
		PostgresURL: *pgURL,
		StageLimits: stage.Limits{MaxOnStage: *maxOnStage, RequestTTL: requestTimeout.Milliseconds(), InviteTTL: inviteTimeout.Milliseconds()},
	}
	if *clustered {
		var missing []string
		for name, v := range map[string]string{"-redis": *redisURL, "-postgres": *pgURL, "-node-id": *nodeID, "-advertise": *advertise} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return app.Config{}, fmt.Errorf("-cluster needs %s", strings.Join(missing, ", "))
		}
		if *demo {
			return app.Config{}, errors.New("-demo runs a single server; it does not combine with -cluster")
		}
		cfg.Cluster = &cluster.Config{RedisURL: *redisURL, NodeID: *nodeID, Advertise: strings.TrimSuffix(*advertise, "/"), LeaseTTL: *leaseTTL, Logger: logger.With("component", "cluster")}
		cfg.Edges = *edges
	} else if *redisURL != "" || *nodeID != "" || *advertise != "" || *edges {
		return app.Config{}, errors.New("-redis, -node-id, -advertise and -edges need -cluster")
	}
	return cfg, nil
}

// isLoopback tells whether a listen address reaches this machine only. An
// empty host (":8080") means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// run serves until SIGINT or SIGTERM, then shuts down gracefully.
func run(cfg app.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- a.ListenAndServe() }()
	select {
	case err = <-errc: // could not listen, or the server failed
	case <-ctx.Done():
		cfg.Logger.Info("shutting down")
	}
	stop() // a second signal kills at once
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if serr := a.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if err == nil {
		cfg.Logger.Info("stopped")
	}
	return err
}
