//go:build linux

// Package harness holds what the load benchmarks (bench/) and the soak
// (soak/) share about a server they run as a child process: its /proc
// figures, the open-file limit for thousands of sockets, and an admin REST
// client.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// RaiseNoFile lifts the soft open-file limit to want (and, as root, the
// hard one when it is lower); a child process inherits it.
func RaiseNoFile(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	if lim.Max < want && os.Geteuid() == 0 {
		lim.Max = want // root may raise the hard limit too
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < want {
		return fmt.Errorf("open-file limit is %d (hard limit), want %d", lim.Cur, want)
	}
	return nil
}

// ProcStatus is what is read of /proc/<pid>/status, in KiB.
type ProcStatus struct {
	RSS, HWM int64 // VmRSS, VmHWM
	Threads  int64
}

// ReadProcStatus reads process pid's memory and threads.
func ReadProcStatus(pid int) (ProcStatus, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStatus{}, err
	}
	var ps ProcStatus
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if !ok || len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			ps.RSS = n
		case "VmHWM":
			ps.HWM = n
		case "Threads":
			ps.Threads = n
		}
	}
	if ps.RSS == 0 {
		return ps, errors.New("no VmRSS in /proc status")
	}
	return ps, nil
}

// CPUTime is the CPU time (user+system) process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// After the command name in parentheses: utime and stime are fields 14
	// and 15, in USER_HZ (100/s) ticks.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// REST calls a server's admin REST API.
type REST struct {
	base, key string
	hc        *http.Client
	retries   atomic.Int64
}

// NewREST is a client of the server at base with the admin key.
func NewREST(base, key string) *REST {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &REST{base: base, key: key, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Retries is how many requests were sent again.
func (r *REST) Retries() int64 { return r.retries.Load() }

// CloseIdle closes the client's idle connections.
func (r *REST) CloseIdle() { r.hc.CloseIdleConnections() }

// Do sends one request and decodes the data envelope into out (when not
// nil); transport errors and 5xx answers are retried up to three times.
func (r *REST) Do(ctx context.Context, method, path string, body any, want int, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	var last error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			r.retries.Add(1)
			select {
			case <-ctx.Done():
				return errors.Join(last, ctx.Err())
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+r.key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := r.hc.Do(req)
		if err != nil {
			last = err
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
		res.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if res.StatusCode >= 500 {
			last = fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, raw)
			continue
		}
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
		}
		if out == nil {
			return nil
		}
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("%s %s: %v", method, path, err)
		}
		return json.Unmarshal(env.Data, out)
	}
	return last
}
