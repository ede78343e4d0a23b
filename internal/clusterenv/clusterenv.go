// Package clusterenv starts the real outside services a clustered stage
// server runs on, for tests and benchmarks: a throwaway PostgreSQL (Debian's
// postgresql, initdb + pg_ctl in a temp dir, as the postgres user when run
// as root, which PostgreSQL requires) and throwaway redis-server processes
// (no persistence, loopback only).
//
// When a binary is missing the caller is skipped with a message naming the
// package to install — except under CI=true, where it fails: CI installs
// them (scripts/setup.sh) and must run these tests.
package clusterenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Missing skips tb (fails it under CI=true) because what is absent.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	msg := what + " not installed (scripts/setup.sh installs it: make setup)"
	if os.Getenv("CI") == "true" {
		tb.Fatal("CI=true: " + msg)
	}
	tb.Skip(msg)
}

// PostgresBin is the directory of PostgreSQL's server binaries, or "".
func PostgresBin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real)
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

// RedisBin is the redis-server binary, or "".
func RedisBin() string {
	p, _ := exec.LookPath("redis-server")
	if p == "" {
		if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
			p = "/usr/bin/redis-server"
		}
	}
	return p
}

// FreePort returns a loopback TCP port free at the time of the call.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// --- PostgreSQL ------------------------------------------------------------

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	Dir  string // data and socket directory
	Port int
	bin  string
	as   []string // runuser prefix when run as root
}

var (
	pgOnce   sync.Once
	pgShared *Postgres
	pgErr    error
	dbSeq    atomic.Int64
)

// StartPostgres starts a PostgreSQL server in a new temp dir (about 2 s).
// Stop it with Stop.
func StartPostgres() (*Postgres, error) {
	bin := PostgresBin()
	if bin == "" {
		return nil, errors.New("postgresql not installed")
	}
	dir, err := os.MkdirTemp("", "stagekit-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, bin: bin}
	if os.Getuid() == 0 {
		// PostgreSQL refuses to run as root: its files belong to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if p.Port, err = FreePort(); err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", p.Port, dir)
		out, err := p.run("pg_ctl", "-D", filepath.Join(dir, "data"), "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "30", "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		}
	}
	return p, nil
}

func (p *Postgres) run(tool string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.as...), filepath.Join(p.bin, tool)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	return cmd.CombinedOutput()
}

// URL is the connection URL of database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// CreateDatabase creates a new empty database and returns its URL.
func (p *Postgres) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return p.URL(name), nil
}

// Stop stops the server (fast shutdown) and removes its directory.
func (p *Postgres) Stop() {
	p.run("pg_ctl", "-D", filepath.Join(p.Dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(p.Dir)
}

// PostgresURL returns the URL of a fresh database on the test process's
// shared server, started on first use (stopped by Run). It skips tb when
// PostgreSQL is not installed (fails under CI=true).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	if PostgresBin() == "" {
		Missing(tb, "postgresql")
	}
	pgOnce.Do(func() { pgShared, pgErr = StartPostgres() })
	if pgErr != nil {
		tb.Fatalf("starting PostgreSQL: %v", pgErr)
	}
	url, err := pgShared.CreateDatabase(fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1)))
	if err != nil {
		tb.Fatalf("creating a database: %v", err)
	}
	return url
}

// Run runs the tests and then stops the shared PostgreSQL, if one was
// started: use it as TestMain's body, os.Exit(clusterenv.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if pgShared != nil {
		pgShared.Stop()
	}
	return code
}

// --- Redis -----------------------------------------------------------------

// Redis is a running throwaway redis-server.
type Redis struct {
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// StartRedis starts a redis-server on a free loopback port, without
// persistence, in a new temp dir. Stop it with Stop.
func StartRedis() (*Redis, error) {
	bin := RedisBin()
	if bin == "" {
		return nil, errors.New("redis-server not installed")
	}
	dir, err := os.MkdirTemp("", "stagekit-redis-")
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, done: make(chan struct{})}
		r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--protected-mode", "no", "--loglevel", "warning")
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out strings.Builder
		r.cmd.Stdout, r.cmd.Stderr = &out, &out
		if err := r.cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		go func() { r.cmd.Wait(); close(r.done) }()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if c, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
				c.Close()
				return r, nil
			}
			select {
			case <-r.done:
				deadline = time.Time{} // exited: port taken? try another
			case <-time.After(20 * time.Millisecond):
			}
		}
		r.cmd.Process.Kill()
		<-r.done
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server did not start: %s", out.String())
		}
	}
	return nil, errors.New("redis-server did not start")
}

// Stop kills the server and removes its directory.
func (r *Redis) Stop() {
	r.cmd.Process.Kill()
	<-r.done
	os.RemoveAll(r.dir)
}

// RedisServer starts a redis-server for tb, stopped when tb ends. It skips
// tb when redis-server is not installed (fails under CI=true).
func RedisServer(tb testing.TB) *Redis {
	tb.Helper()
	if RedisBin() == "" {
		Missing(tb, "redis-server")
	}
	r, err := StartRedis()
	if err != nil {
		tb.Fatalf("starting redis-server: %v", err)
	}
	tb.Cleanup(r.Stop)
	return r
}
