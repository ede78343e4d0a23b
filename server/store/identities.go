package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// identityLookups gathers the LookupIdentity calls made while one is out
// into the next query (one round trip for all of them): a join wave
// authenticates every hello, and one query per hello was a PostgreSQL
// round trip per join.
type identityLookups struct {
	mu      sync.Mutex
	waiting []identityWait
	running bool
}

type identityWait struct {
	id   string
	done chan identityResult // buffered: the runner never blocks on it
}

type identityResult struct {
	p     Participant
	title string
	err   error
}

// maxIdentityBatch bounds the ids of one query.
const maxIdentityBatch = 512

// identityTimeout bounds a gathered query: it answers callers whose own
// contexts may end sooner (each stops waiting then).
const identityTimeout = 10 * time.Second

// lookup answers id's identity from a query shared with the concurrent
// lookups; query runs one batch of distinct ids.
func (l *identityLookups) lookup(ctx context.Context, id string, query func(context.Context, []string) (map[string]identityResult, error)) (Participant, string, error) {
	if err := ctx.Err(); err != nil {
		return Participant{}, "", fmt.Errorf("store: lookup identity: %w", err)
	}
	w := identityWait{id: id, done: make(chan identityResult, 1)}
	l.mu.Lock()
	l.waiting = append(l.waiting, w)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go l.run(query)
	}
	select {
	case r := <-w.done:
		return r.p, r.title, r.err
	case <-ctx.Done():
		return Participant{}, "", fmt.Errorf("store: lookup identity: %w", ctx.Err())
	}
}

// run queries the waiting lookups, a batch at a time, until none is left.
func (l *identityLookups) run(query func(context.Context, []string) (map[string]identityResult, error)) {
	for {
		l.mu.Lock()
		n := min(len(l.waiting), maxIdentityBatch)
		if n == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		batch := l.waiting[:n:n]
		l.waiting = l.waiting[n:]
		l.mu.Unlock()
		ids := make([]string, 0, n)
		seen := make(map[string]bool, n)
		for _, w := range batch {
			if !seen[w.id] {
				seen[w.id] = true
				ids = append(ids, w.id)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
		found, err := query(ctx, ids)
		cancel()
		for _, w := range batch {
			switch r, ok := found[w.id]; {
			case err != nil:
				w.done <- identityResult{err: err}
			case !ok:
				w.done <- identityResult{err: ErrNotFound}
			default:
				w.done <- r
			}
		}
	}
}
