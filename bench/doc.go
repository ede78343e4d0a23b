// Package bench holds the load benchmarks of the stage core. They start the
// real server binary (cmd/stageserver, built from this checkout) as a
// separate process on 127.0.0.1, create the participants through its REST
// API and connect clients to it over real WebSockets:
//
//	go test -run='^$' -bench=Audience -benchtime=1x ./bench
//
//	BenchmarkAudience/viewers=N   one webinar room of N viewers (300, 3000,
//	                              10000): join CPU and memory per viewer,
//	                              idle CPU, request CPU and request → host
//	                              latency, bytes per unrelated event, a
//	                              storm of 1,000 requests and one grant of
//	                              all of them
//
// The host is the SDK's native client (client.Meeting); the viewers are
// lean clients (lean_test.go) that speak the real protocol with one
// goroutine each, so that 10,000 fit in this process beside the server.
// The benchmark's comment says exactly what each figure measures. Figures
// are reported with b.ReportMetric; a benchmark never fails because the
// machine is slow, only when something does not work (the server does not
// start, a call is refused, a wait exceeds a generous bound). They are
// skipped with -short.
//
// The clients share the machine with the server: server CPU comes from
// /proc for the server process alone, and other-cpu-% is the share of the
// machine other processes used meanwhile (figures taken while it is above a
// few percent are inflated). The benchmark raises the open-file limit
// itself (as root, the hard limit too).
//
// Environment:
//
//	STAGEKIT_BENCH_SIZES        room sizes, comma-separated (default 300,3000,10000)
//	STAGEKIT_BENCH_HOST_TICK    the server's -host-tick (e.g. -1ns: none)
//	STAGEKIT_BENCH_SERVER       server binary to run instead of building one
//	STAGEKIT_BENCH_PROFILE_DIR  write CPU profiles of every measured phase,
//	                            of the clients and of the server (built with
//	                            testdata/serverprof.go added by go build
//	                            -overlay), and a heap profile of the server
//	                            after the joins, into this directory
package bench
