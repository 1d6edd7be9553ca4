// Package bench is Switchboard's load generator, run by cmd/swbench and by
// `make bench`. It starts a real relay on a real SQLite file in a process of
// its own (so that its CPU time and memory can be read from /proc), drives
// it over real WebSockets, and measures the scenarios of the performance
// issue: fan-in and fan-out (S1), one stream as fast as it goes (S2),
// interactive echo (S3), many idle connections (S4) and storage (S5); and
// S7, S1's load over three relays joined by NATS on one PostgreSQL schema
// (cluster.go: the relay children get the store and the bus from their
// environment; NATS is nats-server from PATH, else in this process), with
// agents and dashboards on different relays, and the time the extra hop
// between relays adds to S3's echo.
// With Config.TLS it runs S1, S2 and S3 again over wss:// (the relay
// serving TLS with a local CA's certificate, every client and agent
// trusting it). RunAB compares two relay binaries (an older one built
// from its commit by `make bench-ab`), running each scenario on one and
// then the other, the order swapped each round, and reports each one's
// medians of the headline figures (Report.Figures). With
// Config.TraceDir it saves an execution trace of the relay from each
// profiled window and logs how long the relay's goroutines waited for a
// CPU, by kind (schedwait.go): where a CPU shortage lands.
//
// Agents are simulated by minimal protocol peers built on internal/wire,
// except where a real pseudo-terminal matters (S2 through a PTY, S3), which
// use the real agent of internal/agent. Dashboards are internal/client, the
// one dashboard client.
//
// Every scenario also checks correctness: each byte of each stream arrives
// once, in offset order, with the content the agent sent, and is stored.
// Quick mode runs every scenario briefly at reduced scale and reports only
// those checks, never timings.
package bench
