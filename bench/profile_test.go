//go:build linux

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// profileDir is $STAGEKIT_BENCH_PROFILE_DIR: when set, every measured phase
// writes a CPU profile of the clients (this process) and of the server (a
// profiling build, see testdata/serverprof.go) into it, as
// <phase>-client.pprof and <phase>-server.pprof, and the memory benchmark a
// heap profile of the server after the joins (memory-heap-server.pprof).
func profileDir() string { return os.Getenv("STAGEKIT_BENCH_PROFILE_DIR") }

var profileWarn sync.Once

// phase measures one timed phase: the CPU time the server process and this
// (client) process used during it, and, when profiling, their CPU profiles.
type phase struct {
	srv     *server
	name    string
	srv0    time.Duration
	cli0    time.Duration
	sys0    time.Duration
	t0      time.Time
	cliProf *os.File
	srvProf bool
}

// phaseCPU is the CPU time used during a phase by the server process and by
// this process (the clients and the benchmark itself).
// other is what the rest of the machine used meanwhile (other
// processes competing for the CPUs), wall the phase's duration.
type phaseCPU struct{ srv, cli, other, wall time.Duration }

func (c *phaseCPU) add(d phaseCPU) {
	c.srv += d.srv
	c.cli += d.cli
	c.other += d.other
	c.wall += d.wall
}

// otherPct is the share of the machine's CPU capacity that other processes
// used during the phases: above a few percent the figures are inflated.
func (c phaseCPU) otherPct() float64 {
	if c.wall <= 0 {
		return 0
	}
	return 100 * max(0, float64(c.other)) / (float64(c.wall) * float64(runtime.NumCPU()))
}

func startPhase(srv *server, name string) *phase {
	p := &phase{srv: srv, name: name}
	if dir := profileDir(); dir != "" {
		if f, err := os.Create(filepath.Join(dir, name+"-client.pprof")); err == nil {
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				profileWarn.Do(func() { fmt.Fprintf(os.Stderr, "bench: no client profile: %v\n", err) })
			} else {
				p.cliProf = f
			}
		}
		if err := srv.profileCmd("cpu-start " + name + "-server.pprof"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: no server profile: %v\n", err)
		} else {
			p.srvProf = true
		}
	}
	p.srv0, _ = srv.cpuTime()
	p.cli0 = selfCPU()
	p.sys0 = systemBusy()
	p.t0 = time.Now()
	return p
}

func (p *phase) end() phaseCPU {
	srv, _ := p.srv.cpuTime()
	c := phaseCPU{srv: srv - p.srv0, cli: selfCPU() - p.cli0, wall: time.Since(p.t0)}
	c.other = systemBusy() - p.sys0 - c.srv - c.cli
	if p.cliProf != nil {
		pprof.StopCPUProfile()
		p.cliProf.Close()
	}
	if p.srvProf {
		if err := p.srv.profileCmd("cpu-stop"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: server profile: %v\n", err)
		}
	}
	return c
}

// selfCPU is the CPU time (user+system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// systemBusy is the CPU time all processes of the machine have used (the
// busy columns of /proc/stat's cpu line).
func systemBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
