// Package netlab gives tests a link they can break: a network namespace
// joined to the host by a veth pair (scripts/netlab.sh does the work, for
// the Go tests and the Playwright e2e alike), with a rate limit, random
// loss, a black hole and a change of address. It needs root; New skips the
// test when it runs without (and fails it when root lacks the tools: run
// make setup).
package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Direction says which way a limit or loss applies.
type Direction string

const (
	Down Direction = "down" // host → lab (what a viewer in the lab receives)
	Up   Direction = "up"   // lab → host
	Both Direction = "both"
)

// Lab is one namespace and its link. HostAddr is the host end's address: a
// server listening there (or on 0.0.0.0) is reachable from both sides.
type Lab struct {
	N        int
	NS       string // the namespace's name (ip netns)
	HostAddr string
}

// Script is the path of scripts/netlab.sh.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "netlab.sh")
}

// Check reports why labs cannot be made here (nil if they can).
func Check() error {
	_, err := run("check")
	return err
}

// New makes a lab for the test and removes it when the test ends. Without
// root the test is skipped; with root, any failure fails it.
func New(tb testing.TB) *Lab {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("netlab: skipped, needs root for network namespaces (CI runs as root)")
	}
	l, err := Make()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// Make makes a lab; Close removes it.
func Make() (*Lab, error) {
	out, err := run("up")
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		return nil, fmt.Errorf("netlab: up printed %q", out)
	}
	return &Lab{N: n, NS: "sk" + out, HostAddr: fmt.Sprintf("10.231.%d.1", n)}, nil
}

// Close removes the namespace and the veth pair.
func (l *Lab) Close() error { _, err := l.do("down"); return err }

// Command runs name inside the lab.
func (l *Lab) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
}

// Shape limits the link's rate in dir (tc tbf; rate in tc's syntax, e.g.
// "300kbit").
func (l *Lab) Shape(dir Direction, rate string) error {
	_, err := l.do("shape", string(dir), rate)
	return err
}

// Unshape lifts the rate limits in dir.
func (l *Lab) Unshape(dir Direction) error { _, err := l.do("unshape", string(dir)); return err }

// Loss drops percent % of the UDP packets in dir at random (0 stops it).
func (l *Lab) Loss(dir Direction, percent int) error {
	_, err := l.do("loss", string(dir), strconv.Itoa(percent))
	return err
}

// BlackHole drops every packet of the link, both ways, until called with
// false.
func (l *Lab) BlackHole(on bool) error {
	arg := "off"
	if on {
		arg = "on"
	}
	_, err := l.do("blackhole", arg)
	return err
}

// DropDTLS drops the DTLS records on the link, both ways (UDP payloads
// whose first byte is 20-63, RFC 7983: ICE's STUN and SRTP pass), until
// called with false.
func (l *Lab) DropDTLS(on bool) error {
	arg := "off"
	if on {
		arg = "on"
	}
	_, err := l.do("dtlshole", arg)
	return err
}

// Readdress replaces the lab's address by a new one, as a network change
// does, and returns it.
func (l *Lab) Readdress() (string, error) { return l.do("readdress") }

// Addr is the lab's current address.
func (l *Lab) Addr() (string, error) { return l.do("addr") }

func (l *Lab) do(cmd string, args ...string) (string, error) {
	return run(cmd, append([]string{strconv.Itoa(l.N)}, args...)...)
}

func run(cmd string, args ...string) (string, error) {
	out, err := exec.Command(Script(), append([]string{cmd}, args...)...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("netlab %s %s: %s", cmd, strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(string(out)), nil
}
