// Command stagecluster runs a cluster of stage servers on loopback for a
// person to try (make cluster): a throwaway PostgreSQL and redis-server
// (internal/clusterenv, as the tests use them) and N bin/stageserver nodes
// started with -cluster, each on its own port. Ctrl-C stops everything and
// removes the databases.
//
//	stagecluster [-nodes 3] [-base-port 8081] [-api-key KEY] [-lease-ttl 5s] [-edges] [-server bin/stageserver]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/stagekit/stagekit/internal/clusterenv"
)

func main() {
	nodes := flag.Int("nodes", 3, "number of nodes")
	basePort := flag.Int("base-port", 8081, "the first node's port; the others follow")
	apiKey := flag.String("api-key", "cluster-key", "the admin API key of every node")
	leaseTTL := flag.Duration("lease-ttl", 5*time.Second, "room lease TTL (-lease-ttl of the nodes)")
	server := flag.String("server", "bin/stageserver", "the stageserver binary")
	web := flag.String("web", "web", "the nodes' -web directory (the SDK at /sdk/)")
	edges := flag.Bool("edges", false, "start the nodes with -edges (any node serves any room's users, media relayed)")
	flag.Parse()
	if err := run(*nodes, *basePort, *apiKey, *leaseTTL, *server, *web, *edges); err != nil {
		fmt.Fprintln(os.Stderr, "stagecluster:", err)
		os.Exit(1)
	}
}

func run(n, basePort int, apiKey string, ttl time.Duration, server, web string, edges bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(server); err != nil {
		return fmt.Errorf("%s: %w (make build-server)", server, err)
	}
	pg, err := clusterenv.StartPostgres()
	if err != nil {
		return fmt.Errorf("postgresql (make setup installs it): %w", err)
	}
	defer pg.Stop()
	pgURL, err := pg.CreateDatabase("stagekit")
	if err != nil {
		return err
	}
	rd, err := clusterenv.StartRedis()
	if err != nil {
		return fmt.Errorf("redis-server (make setup installs it): %w", err)
	}
	defer rd.Stop()
	fmt.Printf("postgres  %s\nredis     %s\n", pgURL, rd.URL())

	var wg sync.WaitGroup
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		wg.Wait()
	}()
	exited := make(chan string, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("node%d", i+1)
		addr := fmt.Sprintf("127.0.0.1:%d", basePort+i)
		cmd := exec.Command(server, "-cluster", "-node-id", id, "-addr", addr, "-advertise", "http://"+addr,
			"-redis", rd.URL(), "-postgres", pgURL, "-api-key", apiKey, "-lease-ttl", ttl.String(),
			"-web", web, "-data", os.TempDir(),
			// A page served by one node may be redirected to another.
			"-allowed-origins", "127.0.0.1:*,localhost:*")
		if edges {
			cmd.Args = append(cmd.Args, "-edges")
		}
		out, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix(id, out)
			cmd.Wait()
			exited <- id
		}()
		fmt.Printf("%-9s http://%s  (ready: /readyz, metrics: /metrics)\n", id, addr)
	}
	fmt.Printf("admin key %s — e.g. curl -H 'Authorization: Bearer %s' -d '{\"title\":\"t\"}' http://127.0.0.1:%d/v1/meetings\n", apiKey, apiKey, basePort)
	fmt.Println("Ctrl-C stops the cluster (kill -9 a node's pid to watch a takeover)")
	select {
	case <-ctx.Done():
	case id := <-exited:
		fmt.Printf("%s exited; stopping the cluster\n", id)
	}
	return nil
}

// prefix copies a node's log lines to stdout, each after the node's id.
func prefix(id string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Printf("%s | %s\n", id, sc.Text())
	}
}
