// Package bench holds the load benchmarks of the stage core. They start the
// real server binary (cmd/stageserver, built from this checkout) as a
// separate process on 127.0.0.1, create the participants through its REST
// API and connect native clients (client.Meeting, one WebSocket each) to it:
//
//	go test -run='^$' -bench=. -benchtime=1x ./bench
//
//	BenchmarkServerMemory         server VmRSS and live heap per connected client
//	BenchmarkRequestLatency/...   viewer requestAccess → host newStageRequest,
//	                              isolated and back-to-back
//	BenchmarkRequestStorm         every viewer requests at once, then one
//	                              grant of all
//
// Each benchmark's comment says exactly what its figures measure. They
// report figures with b.ReportMetric and never fail because the machine is
// slow; they fail only when something does not work (the server does not
// start, a call is refused, a wait exceeds a generous bound). They are
// skipped with -short.
//
// The clients share the machine with the server: CPU figures are given for
// both processes (srv-cpu, cli-cpu), and other-cpu-% is the share of the
// machine that other processes used meanwhile (figures taken while it is
// above a few percent are inflated). Connections the server closed show as
// reconnects, with the server's reason in the log.
//
// Environment:
//
//	STAGEKIT_BENCH_CLIENTS      number of viewers (default 1000)
//	STAGEKIT_BENCH_SERVER       server binary to run instead of building one
//	STAGEKIT_BENCH_PROFILE_DIR  write CPU profiles of every measured phase,
//	                            of the clients and of the server (built with
//	                            testdata/serverprof.go added by go build
//	                            -overlay), and a heap profile of the server
//	                            after the joins, into this directory
package bench
