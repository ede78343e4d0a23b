//go:build !js

package media

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// pion's receiver-report interceptor writes one RTCP packet per received
// stream each second: a viewer's subscribe PC, with three slots of each
// kind, sent six datagrams a second, most of what an idle audience sends
// its server. rrBatch joins the single-block receiver reports written
// within rrBatchWindow into one report with a block per stream (RFC 3550's
// compound report, as a browser's RTCP carries): one datagram a second.
// Anything else goes out as it was written.
type rrBatch struct {
	interceptor.NoOp
	mu      sync.Mutex
	out     interceptor.RTCPWriter
	pending *rtcp.ReceiverReport // nil: nothing waits
}

// rrBatchWindow: the interceptor writes one tick's reports back to back.
const rrBatchWindow = 5 * time.Millisecond

// maxReportBlocks is what one receiver report holds (a 5-bit count).
const maxReportBlocks = 31

type rrBatchFactory struct{}

func (rrBatchFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return &rrBatch{}, nil }

// BindRTCPWriter wraps the PC's writer: registered before pion's report
// interceptor, whose reports then pass through it.
func (b *rrBatch) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	b.mu.Lock()
	b.out = w
	b.mu.Unlock()
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		if len(pkts) != 1 || !b.add(pkts[0]) {
			return w.Write(pkts, a)
		}
		return 0, nil
	})
}

// add takes p into the pending report if it is a plain receiver report,
// and says whether it did.
func (b *rrBatch) add(p rtcp.Packet) bool {
	rr, ok := p.(*rtcp.ReceiverReport)
	if !ok || len(rr.Reports) != 1 || len(rr.ProfileExtensions) != 0 {
		return false
	}
	b.mu.Lock()
	if b.pending == nil {
		// The first stream's reporter SSRC speaks for the batch (pion
		// draws one per stream; a sender needs one).
		b.pending = &rtcp.ReceiverReport{SSRC: rr.SSRC}
		time.AfterFunc(rrBatchWindow, b.flush)
	}
	b.pending.Reports = append(b.pending.Reports, rr.Reports[0])
	var full *rtcp.ReceiverReport
	if len(b.pending.Reports) == maxReportBlocks {
		full = b.pending
		b.pending = &rtcp.ReceiverReport{SSRC: full.SSRC} // the rest: flushed by the timer
	}
	out := b.out
	b.mu.Unlock()
	if full != nil {
		sendReport(out, full)
	}
	return true
}

// flush sends the pending report: the window is over.
func (b *rrBatch) flush() {
	b.mu.Lock()
	rr, out := b.pending, b.out
	b.pending = nil
	b.mu.Unlock()
	if rr != nil && len(rr.Reports) > 0 {
		sendReport(out, rr)
	}
}

func sendReport(out interceptor.RTCPWriter, rr *rtcp.ReceiverReport) {
	// A report lost on the way is as one lost on the network.
	_, _ = out.Write([]rtcp.Packet{rr}, interceptor.Attributes{})
}
