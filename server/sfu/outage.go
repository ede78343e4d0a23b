package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// outageMask keeps a publisher's network change out of the receiver reports
// its publish PC sends. While the publisher's network is gone (a new
// address, a black hole) its browser goes on numbering packets that never
// arrive; once it is back, pion's reports would count them all as lost
// (98% in the first one), and the browser's estimator, which reads loss
// from the reports' cumulative counts, falls to its floor (30 kbit/s) and
// climbs back at 8% a second: the presenter's top layers stay off for tens
// of seconds. A stream whose packets stopped for outageGap and then came
// on with numbers skipped lost those to the outage, not to congestion:
// they are taken out of the reports' cumulative loss (and the report that
// covers them says no fraction lost).
//
// It must come before pion's report interceptor in the registry, so that
// the reports are written through it. A packet costs a header read that
// pion has cached and a lock no other packet of the PC contends for.
type outageMask struct {
	mu      sync.Mutex
	streams map[uint32]*outageStream
}

type outageStream struct {
	started bool
	lastSeq uint16
	lastAt  int64
	masked  uint32 // packets lost to outages, in total
	fresh   bool   // an outage since the last report
}

// outageGap is a silence after which skipped numbers are an outage's: much
// longer than any pause of a live stream's packets, shorter than a network
// change takes to be noticed and repaired.
const outageGap = time.Second

type outageMaskFactory struct{}

func (outageMaskFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &outageMask{streams: map[uint32]*outageStream{}}, nil
}

func (o *outageMask) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	o.mu.Lock()
	st := &outageStream{}
	o.streams[info.SSRC] = st
	o.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		h, err := attr.GetRTPHeader(b[:n])
		if err != nil {
			return n, attr, nil //nolint:nilerr // not RTP: for the next reader to judge
		}
		now := time.Now().UnixNano()
		o.mu.Lock()
		st.note(h.SequenceNumber, now)
		o.mu.Unlock()
		return n, attr, nil
	})
}

// note takes a packet's number and arrival.
func (st *outageStream) note(seq uint16, now int64) {
	if !st.started {
		st.started, st.lastSeq, st.lastAt = true, seq, now
		return
	}
	d := seq - st.lastSeq
	if d == 0 || d >= 1<<15 {
		return // a duplicate or a late packet
	}
	if d > 1 && now-st.lastAt >= int64(outageGap) {
		st.masked += uint32(d - 1)
		st.fresh = true
	}
	st.lastSeq, st.lastAt = seq, now
}

// mask corrects one reception report.
func (o *outageMask) mask(r *rtcp.ReceptionReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.streams[r.SSRC]
	if st == nil || st.masked == 0 {
		return
	}
	r.TotalLost -= min(st.masked, r.TotalLost)
	if st.fresh {
		r.FractionLost, st.fresh = 0, false
	}
}

func (o *outageMask) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, attr interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if rr, ok := p.(*rtcp.ReceiverReport); ok {
				for i := range rr.Reports {
					o.mask(&rr.Reports[i])
				}
			}
		}
		return writer.Write(pkts, attr)
	})
}

func (o *outageMask) UnbindRemoteStream(info *interceptor.StreamInfo) {
	o.mu.Lock()
	delete(o.streams, info.SSRC)
	o.mu.Unlock()
}

func (o *outageMask) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return reader
}
func (o *outageMask) BindLocalStream(_ *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	return writer
}
func (o *outageMask) UnbindLocalStream(*interceptor.StreamInfo) {}
func (o *outageMask) Close() error                              { return nil }
