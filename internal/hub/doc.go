// Package hub owns Switchboard's live state and routing: every agent and
// its status, every command's lifecycle and the queue of commands waiting
// for their agent, the one order of events all dashboards see (the event
// counter, Local.seq, in broadcastLocked), each command's output log and
// its fan-out to the dashboards that follow it, subscriptions by offset
// (from the store, then memory, then live), input routed to a command's
// agent, attention and its --notify-url poster, the persister, which
// hands all of it to a store.Store in batches, retention, which
// removes old finished commands from the store in small steps, and the
// search indexer, which reads stored output back into the store's
// full-text index.
//
// The Hub interface (iface.go) is what the relay's sessions use; Local
// implements it in one process. With Config.Bus (bus.go; internal/cluster
// implements it over NATS) Local is one of several relays sharing a store:
// events are numbered by the bus's log and reach dashboards from it
// (cluster.go, ApplyEvent); each relay drives the agents connected to it
// and the commands it owns, keeps a copy of the others' from the log,
// hands a queued command to the relay holding its agent, takes over the
// commands an agent brings it, and forwards a dashboard's requests about
// another relay's command to a proxy dashboard there (proxy.go).
//
// Where things are: the event counter is hub.go (broadcastLocked); the
// output fan-out is output.go (appendFrame, deliver); subscriptions and
// catch-up are subscribe.go; dispatch and a command's end are state.go;
// the persister and its own bookkeeping of each log are persist.go;
// retention (removing old finished commands) is retention.go.
//
// Locks, in the order they are taken (all of the package's):
//
//	Local.mu            the state: agents, commands, the queue, dashboards, the event counter
//	  persister.mu      the next batch and the logs it watches (under Local.mu to queue a change)
//	    outputLog.mu    one command's output and subscribers (under persister.mu to take output)
//	dashboard.mu        a dashboard's subscriptions; never held with Local.mu; before outputLog.mu
//	notifyPoster.mu, deniedLog.mu, indexer.mu: leaves
//
// Below all of them come the transport's locks (queueing to a Peer). The
// hot path (an output frame) takes outputLog.mu alone: Local.mu only the
// first time an agent's connection writes to a command. A transport read
// poller holds its socket's lock while it runs an agent's handler, so the
// handlers above never wait for anything but these short locks.
//
// Goroutines:
//
//	goroutine                      started by                         ended by
//	persister                      Run                                Run's end, after drain (stores what is left)
//	search indexer (indexer.go)    Run, when the store has an index   Run's context (its cursors are stored: a restart resumes)
//	liveness (lost commands)       Run                                Run's context
//	refusals' audit summary        Run                                Run's context (writes the last summary)
//	--notify-url poster            Run, with Config.NotifyURL         Run's context (what is queued is dropped)
//	retention worker               Run, with Config.Retention limits  Run's context (a removal step under way is rolled back)
//	catch-up (per subscription)    Subscribe, or a dashboard falling  attaching to the live log, an unsubscribe,
//	                               behind on live output              or the dashboard's end (Leave waits for it)
//	exit wait (per exit)           an exit ahead of its output        after ExitWait, one call
//	bus (Config.Bus only)          Run                                Run's end, after drain and the persister
//	hand-off (per queued command   dispatch, for an agent held by     its answer, within 5 s; Run waits for it
//	  for another relay's agent)     another relay
//	rehome after a hand-off        a hand-off's success               moving the subscriptions (Run waits for it)
package hub
