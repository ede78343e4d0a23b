package sfu

import (
	"runtime"
	"sync"
)

// fanout spreads one packet's copies over every core: a source's forwarder
// cuts its slot list into chunks, hands all but the first to the workers,
// writes the first itself and waits for the rest (the barrier after which
// the packet's buffer may go to the history and, later, be reused). Audio
// chunks are taken before video ones, so audio is never starved by video.
// The workers run while some source does: an SFU with nobody on stage has
// none.
type fanout struct {
	mu    sync.Mutex
	users int
	pool  *fanPool
	wg    *sync.WaitGroup
}

// fanPool is one generation of workers and their queues.
type fanPool struct {
	audio, video chan fanTask
	stop         chan struct{}
	workers      int
}

type fanTask struct {
	src   *source
	slots []*slot
	p     *packet
	now   int64
	wg    *sync.WaitGroup
}

// minChunk is the fewest copies worth handing to another goroutine (a
// hand-over costs about as much as a few copies).
const minChunk = 16

// acquire returns the running pool, starting it for the first source.
func (f *fanout) acquire(wg *sync.WaitGroup) *fanPool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users++
	if f.pool == nil {
		n := runtime.GOMAXPROCS(0)
		f.pool = &fanPool{audio: make(chan fanTask, 64*n), video: make(chan fanTask, 64*n), stop: make(chan struct{}), workers: n}
		for range n {
			wg.Add(1)
			go func(fp *fanPool) {
				defer wg.Done()
				fp.work()
			}(f.pool)
		}
	}
	return f.pool
}

// release stops the workers after the last source's forwarder ended.
func (f *fanout) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users--; f.users == 0 {
		close(f.pool.stop)
		f.pool = nil
	}
}

func (fp *fanPool) work() {
	for {
		var t fanTask
		select {
		case t = <-fp.audio:
		default:
			select {
			case t = <-fp.audio:
			case t = <-fp.video:
			case <-fp.stop:
				return
			}
		}
		writeAll(t.src, t.slots, t.p, t.now)
		t.wg.Done()
	}
}

// run writes p to every slot and returns when all copies are written.
func (fp *fanPool) run(src *source, slots []*slot, p *packet, now int64) {
	n := len(slots)
	parts := min(fp.workers, n/minChunk)
	if parts <= 1 {
		writeAll(src, slots, p, now)
		return
	}
	q := fp.video
	if !src.video {
		q = fp.audio
	}
	var wg sync.WaitGroup
	size := (n + parts - 1) / parts
	for i := size; i < n; i += size {
		wg.Add(1)
		t := fanTask{src: src, slots: slots[i:min(i+size, n)], p: p, now: now, wg: &wg}
		select {
		case q <- t:
		default: // the workers are saturated: no point queueing
			writeAll(t.src, t.slots, t.p, t.now)
			wg.Done()
		}
	}
	writeAll(src, slots[:size], p, now)
	wg.Wait()
}

func writeAll(src *source, slots []*slot, p *packet, now int64) {
	for _, sl := range slots {
		sl.write(src, p, now)
	}
}
