// Command clusterenv starts a PostgreSQL and a redis-server for tests that
// run a cluster from outside Go (the browser tests, e2e/): it prints one
// JSON line, {"postgres": URL, "redis": URL}, and stops both when its
// standard input closes.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/stagekit/stagekit/internal/clusterenv"
)

func main() {
	pg, err := clusterenv.StartPostgres()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterenv:", err)
		os.Exit(1)
	}
	defer pg.Stop()
	db, err := pg.CreateDatabase("e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterenv:", err)
		os.Exit(1)
	}
	rd, err := clusterenv.StartRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterenv:", err)
		os.Exit(1)
	}
	defer rd.Stop()
	json.NewEncoder(os.Stdout).Encode(map[string]string{"postgres": db, "redis": rd.URL()})
	io.Copy(io.Discard, os.Stdin)
}
