// This file is added to cmd/stageserver (package main) only by the load
// benchmarks' profiling build: with STAGEKIT_BENCH_PROFILE_DIR set, the
// benchmarks build the server with `go build -overlay` mapping this file into
// cmd/stageserver. It is never part of the real server.
//
// When $STAGEKIT_BENCH_SERVER_PROFILE_DIR is set, SIGUSR1 makes the server
// run the command written in <dir>/.cmd, then delete that file:
//
//	cpu-start NAME   start a CPU profile into <dir>/NAME
//	cpu-stop         stop it
//	heap NAME        write a heap profile (after a GC) into <dir>/NAME

package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
)

func init() {
	dir := os.Getenv("STAGEKIT_BENCH_SERVER_PROFILE_DIR")
	if dir == "" {
		return
	}
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		var cpu *os.File
		for range ch {
			path := filepath.Join(dir, ".cmd")
			raw, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			f := strings.Fields(string(raw))
			switch {
			case len(f) == 2 && f[0] == "cpu-start" && cpu == nil:
				if out, err := os.Create(filepath.Join(dir, f[1])); err == nil {
					if pprof.StartCPUProfile(out) == nil {
						cpu = out
					} else {
						out.Close()
					}
				}
			case len(f) == 1 && f[0] == "cpu-stop" && cpu != nil:
				pprof.StopCPUProfile()
				cpu.Close()
				cpu = nil
			case len(f) == 2 && f[0] == "heap":
				if out, err := os.Create(filepath.Join(dir, f[1])); err == nil {
					runtime.GC()
					pprof.WriteHeapProfile(out)
					out.Close()
				}
			}
			os.Remove(path)
		}
	}()
}
