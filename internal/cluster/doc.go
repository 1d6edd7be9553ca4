// Package cluster joins relays into one system over NATS (relay
// --cluster nats://HOST:4222): it implements hub.Bus, which hub.Local
// uses to share its events, hand commands to the relay holding their
// agent and forward dashboards' requests (internal/hub, cluster.go and
// proxy.go, owns what is done with them; this package only carries them).
//
// What goes where, under the prefix P (--cluster-prefix, default
// "switchboard"):
//
//	P.ev.a.<agent id>, P.ev.c.<command id>   JetStream stream P_events (file storage): every
//	                                          agent and command event, numbered by the stream;
//	                                          one message kept per agent and per command, so a
//	                                          starting relay replays the last word on each, in order
//	P.relay.<relay id>.req                   core NATS request/reply: handoff (adopt a queued
//	                                          command) and release (give up an agent's commands)
//	P.relay.<relay id>.fwd                   core NATS: a dashboard's request forwarded to the
//	                                          relay owning its command (headers: who, op, dashboard)
//	P.dash.<relay id>                        core NATS: what an owner sends another relay's dashboard,
//	                                          [kind][len][dashboard id][len][sender relay id][message]
//	P.hb                                     core NATS: each relay's id every 500 ms; a relay
//	                                          not heard for 2 s is gone
//
// Ids in event subjects are base64url-encoded (an id may hold '.'); relay
// ids and the prefix are checked to be subject tokens (CheckID).
//
// Exactly once without exactly-once delivery: events are published with
// a message id (JetStream drops a retried copy within 2 minutes) and each
// carries a whole agent or command, so applying one twice changes
// nothing. Output between relays goes over core NATS, at most once; a
// forwarded subscription knows the next offset it needs, drops what it
// has (a repeat) and subscribes again from that offset at a gap, so the
// offsets make delivery idempotent, as between a relay and a dashboard.
//
// Locks: Bus.mu (the publish queue, heartbeats heard), a leaf; the hub's
// locks are never held when the bus calls the hub, except Publish, which
// the hub calls under Local.mu and which takes Bus.mu only.
//
// Goroutines (all started by Run, which hub.Local.Run starts and whose
// context ends after the hub has drained its sessions):
//
//	goroutine                  ended by
//	publisher (publish)        Run's context; a NATS outage makes it retry in order
//	heartbeat (beat)           Run's context
//	event consumer (consume)   Run's context; nats.go's ordered consumer runs its callback
//	release answer             its ReleaseAgent's return, within 3 s
//	reconnected                hub.Local.Reconnected's return (asks again for forwarded subscriptions)
//	nats.go's own: a reader, a flusher, one per subscription's callbacks (P.hb, the
//	req, fwd and dash subjects); Close (cmd/relay, after Run) ends them
package cluster
