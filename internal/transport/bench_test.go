package transport

import (
	"io"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkConnLargeBatches streams one output at full speed to one
// client, as S2 does: 64 KiB messages, 1 MiB per iteration, written in
// batches as large as the writer makes them. Its allocations per
// iteration show whether each batch costs fresh buffers (over TLS: the
// batch's plaintext and its records).
func BenchmarkConnLargeBatches(b *testing.B) {
	for _, mode := range []streamMode{{name: "plain"}, {name: "tls", tls: true, listener: true}} {
		b.Run(mode.name, func(b *testing.B) {
			p := newConnPair(b, mode, 1<<30)
			const msg, perOp = 64 << 10, 16
			data := make([]byte, msg)
			done := make(chan error, 1)
			go func() { // the client reads all of it, then says so
				for range b.N * perOp {
					_, r, err := p.client.NextReader()
					if err == nil {
						_, err = io.Copy(io.Discard, r)
					}
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.SetBytes(msg * perOp)
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N*perOp; {
				queued, closing := p.c.SendIfRoom(Message{Kind: websocket.BinaryMessage, Data: data})
				switch {
				case closing:
					b.Fatal("connection closing")
				case queued:
					sent++
				default:
					<-p.c.Room() // as the hub paces a stream to a dashboard
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
