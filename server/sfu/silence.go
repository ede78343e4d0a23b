package sfu

import (
	"sync"
	"time"
)

// A subscribe PC's liveness is kept by the tap, not by pion's agent. The
// tap reads everything a connected viewer sends on the shared socket
// before pion does (its RTCP, its consent checks: rtcptap.go, consent.go),
// so pion's agent would hear nothing and only stayed up on the answers to
// consent checks of its own, a timer and two datagrams every 2 s per
// viewer, most of what an idle audience still cost. Subscribe PCs on the
// shared socket therefore run without pion's keepalives and timeouts
// (SetICETimeouts(0, 0, 0); mediasoup, an ICE-lite server, likewise goes
// by the checks its clients send; pion/ice is patched, third_party/pion-ice,
// so that its check loop then sleeps while connected rather than wake
// every 2 s for nothing), and the tap notes, per path, that an
// authenticated packet came (SRTCP that decrypts, a consent check with
// the PC's credentials). A sweep every silenceSweep turns that into what
// pion's agent used to tell: silent after silenceTimeouts.disconnected
// without a packet (the participant is shown reconnecting and its
// WebSocket probed), heard again at the next one, and failed (an ICE
// restart offered) after failed more. A browser checks consent every ~2.5 s
// and sends receiver reports every second while it receives.
//
// Before a PC connects, and during an ICE restart (checking), pion's agent
// does its checks as ever; with no failed timeout of its own, a PC still
// checking after the two timeouts is failed by iceLiveness.

// silenceTimeouts are pion's defaults, which the participant's liveness
// went by before.
type silenceTimeouts struct {
	disconnected time.Duration // silent after this long unheard
	failed       time.Duration // failed after this long more
}

var defaultSilenceTimeouts = silenceTimeouts{disconnected: 5 * time.Second, failed: 25 * time.Second}

// silenceSweep is how often the tap looks at its paths: how late, at most,
// a silence or a return is told.
const silenceSweep = 500 * time.Millisecond

// silenceState is one path's liveness as the sweep sees it.
type silenceState struct {
	last   time.Time // when it was last heard (or made)
	silent bool      // told silent, not yet heard again
	failed bool      // told failed (once per silence)
}

// silenceChange is what a sweep has to tell of one path.
type silenceChange uint8

const (
	toldSilent silenceChange = 1 << iota
	toldHeard
	toldFailed
)

// step takes whether the path was heard since the previous step, at now,
// and returns what changed.
func (st *silenceState) step(heard bool, now time.Time, to silenceTimeouts) silenceChange {
	if heard {
		st.last = now
		st.failed = false
		if st.silent {
			st.silent = false
			return toldHeard
		}
		return 0
	}
	var ch silenceChange
	quiet := now.Sub(st.last)
	if !st.silent && quiet > to.disconnected {
		st.silent = true
		ch |= toldSilent
	}
	if st.silent && !st.failed && quiet > to.disconnected+to.failed {
		st.failed = true
		ch |= toldFailed
	}
	return ch
}

// pathLiveness is what a path's silence is told to (the subscriber).
type pathLiveness struct {
	live   func(heard bool) // silent (false) or heard again (true)
	failed func()           // silent for the failed timeout too
}

// silenceWatch runs the tap's sweeps from the first path on until stop.
type silenceWatch struct {
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

// start runs sweep every silenceSweep, once.
func (w *silenceWatch) start(sweep func(now time.Time)) {
	w.once.Do(func() {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(w.done)
			t := time.NewTicker(silenceSweep)
			defer t.Stop()
			for {
				select {
				case <-w.stop:
					return
				case now := <-t.C:
					sweep(now)
				}
			}
		}()
	})
}

// close ends the sweeps, if they started, and waits for the last.
func (w *silenceWatch) close() {
	w.once.Do(func() {}) // none starts after this
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
}
