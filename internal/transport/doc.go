// Package transport owns the relay's WebSocket connections: upgrading a
// request (Engine), each connection's bounded send queue and its one
// writer (Conn), batching writes into one writev, framing, the read side
// (gorilla's reader on a goroutine, or a read poller with the frame
// parser), pings, deadlines and the size limit. TLS connections accepted
// through Listener run on the same engine, crypto/tls only encrypting and
// decrypting (tls.go): a batch is one tls.Conn.Write whose records go out
// in one write, and a poller reads the socket and decrypts what it read. The layers above see a
// Conn: read messages (ReadFirst, ReadLoop), queue messages (Send,
// SendSoon, SendNow, SendIfRoom), close with a code (Close, CloseNow);
// they never see a file descriptor.
//
// Where things are: the socket write is writer.go (writeBatch, and
// writeInline for SendNow) through a stream (stream.go: plain; tls.go:
// TLS); the queue bound is conn.go (sendWithin:
// QueueLen messages or Accept.MaxPending bytes, then the peer is cut off
// with close 4002); the writer state machine is at the top of writer.go.
//
// Locks, in the order they are taken: socket.mu (held while a poller
// reads a socket and runs its handler, which may take locks of the
// layers above and queue to any Conn), then Conn.mu (the queue and the
// writer role; a leaf: nothing is taken under it), and socket.wmu (around
// each write system call, and by close) after socket.mu. poller.mu
// guards a poller's socket table and is a leaf. Under TLS, tls.Conn's own
// locks (its input side, taken by the poller under socket.mu; its output
// side, by the writer, and by the poller when reading makes it answer)
// come before tlsConn.mu, a leaf around the records it collects.
//
// Goroutines:
//
//	goroutine                          started by                            ended by
//	read poller (one per P, Linux)     NewEngine                             Engine.Stop
//	writer (at most one per Conn)      Start, or whoever queues into an      an empty queue (back to idle), or
//	                                   idle Conn (takeRoleLocked)            the end of the Conn (finish)
//	SendSoon's timer                   SendSoon on an idle Conn              becoming the writer, or finding none needed
//	ping timer                         Start                                 finish
//	idle timer (polled sockets)        the first start                       the end of reading
//	reader (unpolled Conns)            the caller of ReadLoop (its own)      the end of the socket (finish closes it)
package transport
