// Command stageserver is the stage server: REST, signaling and storage in one
// binary with embedded defaults.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stagekit/stagekit/server/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stageserver:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func run() error {
	addr := flag.String("addr", env("STAGEKIT_ADDR", "127.0.0.1:8080"), "listen address (STAGEKIT_ADDR)")
	apiKey := flag.String("api-key", env("STAGEKIT_API_KEY", ""), "admin API key (STAGEKIT_API_KEY); generated and logged when empty")
	dataDir := flag.String("data", env("STAGEKIT_DATA", "./data"), "data directory (STAGEKIT_DATA)")
	presetsFile := flag.String("presets", env("STAGEKIT_PRESETS", ""), "JSON presets file (STAGEKIT_PRESETS)")
	grace := flag.Duration("grace", envDuration("STAGEKIT_GRACE", 20*time.Second), "how long a dropped user keeps its place (STAGEKIT_GRACE)")
	tokenTTL := flag.Duration("token-ttl", envDuration("STAGEKIT_TOKEN_TTL", 24*time.Hour), "participant token lifetime (STAGEKIT_TOKEN_TTL)")
	origins := flag.String("allowed-origins", env("STAGEKIT_ALLOWED_ORIGINS", ""), "comma-separated page origins allowed to connect, besides the server's own (STAGEKIT_ALLOWED_ORIGINS)")
	logLevel := flag.String("log-level", env("STAGEKIT_LOG_LEVEL", "info"), "debug, info, warn or error (STAGEKIT_LOG_LEVEL)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *apiKey == "" {
		b := make([]byte, 16)
		rand.Read(b)
		*apiKey = hex.EncodeToString(b)
		log.Info("no API key given; generated one for this run", "api_key", *apiKey)
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	a, err := app.New(app.Config{APIKey: *apiKey, DataDir: *dataDir, PresetsFile: *presetsFile, Grace: *grace,
		TokenTTL: *tokenTTL, AllowedOrigins: allowed, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("stage server listening", "url", "http://"+ln.Addr().String(), "data", *dataDir)

	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
