// Package webhook delivers the stage log's events to the registered
// endpoints: at least once, from the outbox the room's commits write
// (server/store), in the room's order per (endpoint, meeting), retried with
// backoff for more than a day, signed by the Standard Webhooks scheme
// (github.com/standard-webhooks/standard-webhooks/libraries/go).
//
// In a cluster every node runs a Deliverer, and a lease in the shared
// database lets one deliver at a time. Delivery never holds a room: rooms
// only write the outbox; this package reads it.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stagekit/stagekit/server/store"
)

// DefaultSchedule is the wait before each retry (Standard Webhooks'
// suggested schedule): after the last, about 27.6 hours after the first
// attempt, an event is given up on and its queue moves on.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Options configure a Deliverer.
type Options struct {
	Store  store.Store // required
	NodeID string      // the lease owner's name; default a random one
	Logger *slog.Logger
	Client *http.Client // default: 10s timeout
	// Schedule is the wait before each retry (default DefaultSchedule).
	Schedule []time.Duration
	// Poll is how often the outbox is read when nothing woke the
	// deliverer (default 250ms): other nodes' commits are seen this way.
	Poll time.Duration
	// LeaseTTL is how long the delivery lease outlives its holder's last
	// renewal (default 10s).
	LeaseTTL time.Duration
	// Workers bounds deliveries in flight (default 32).
	Workers int
}

// Deliverer sends the outbox's due events.
type Deliverer struct {
	o    Options
	log  *slog.Logger
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	sem  chan struct{}
	mu   sync.Mutex
	// flying holds the outbox ids being delivered (zero time) or recorded
	// (when): a read of the outbox that began before a delivery's record
	// committed may still list it as due, and must not send it again.
	flying map[int64]time.Time
	wg     sync.WaitGroup
	once   sync.Once

	ctx      context.Context // canceled by Close: requests in flight end
	cancel   context.CancelFunc
	finished chan store.Finished // attempts to record, batched by record
	recorded chan struct{}       // closed when record has written the last
	leaseTo  time.Time           // when this node's lease runs out, as last renewed
}

// New returns a deliverer; Start runs it.
func New(o Options) *Deliverer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Client == nil {
		// Keep a connection per worker to an endpoint (net/http keeps 2).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Workers
		o.Client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	if len(o.Schedule) == 0 {
		o.Schedule = DefaultSchedule
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.NodeID == "" {
		var b [8]byte
		rand.Read(b[:])
		o.NodeID = fmt.Sprintf("node-%x", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Deliverer{o: o, log: o.Logger, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		sem: make(chan struct{}, o.Workers), flying: map[int64]time.Time{}, finished: make(chan store.Finished, 4*o.Workers)}
}

// NewSecret returns a new endpoint secret in the Standard Webhooks form
// (whsec_ and 24 random bytes in base64).
func NewSecret() string {
	var b [24]byte
	rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// Wake makes the deliverer read the outbox now (a commit stored events).
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start runs the delivery loop until Close.
func (d *Deliverer) Start() {
	d.recorded = make(chan struct{})
	go d.loop()
	go d.record()
}

// Close stops the loop and waits for the deliveries in flight and their
// records.
func (d *Deliverer) Close() {
	d.once.Do(func() {
		close(d.stop)
		d.cancel() // an endpoint that does not answer does not hold a shutdown
		if d.recorded == nil {
			return // never started
		}
		<-d.done
		d.wg.Wait()
		close(d.finished)
		<-d.recorded
	})
}

// record writes finished attempts, as many as are waiting in one
// transaction, then frees their deliveries and wakes the loop (a queue's
// next event may be due now).
func (d *Deliverer) record() {
	defer close(d.recorded)
	for f := range d.finished {
		batch := []store.Finished{f}
	more:
		for len(batch) < 256 {
			select {
			case f, ok := <-d.finished:
				if !ok {
					break more
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.o.Store.FinishAttempts(ctx, batch); err != nil {
			// Not recorded: the events stay due and are sent again (at least once).
			d.log.Warn("webhook attempts not recorded", "attempts", len(batch), "err", err)
		}
		cancel()
		for _, f := range batch {
			d.done1(f.Delivery.OutboxID)
		}
		d.Wake()
	}
}

const leaseName = "webhook-deliverer"

// minRound is the least time between two reads of the outbox.
const minRound = 5 * time.Millisecond

func (d *Deliverer) loop() {
	defer close(d.done)
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		start := time.Now()
		d.round()
		select {
		case <-d.stop:
			return
		case <-d.wake:
			// Under a stream of commits, read the outbox at most every
			// minRound: each read then takes more events at once.
			time.Sleep(minRound - time.Since(start))
		case <-t.C:
		}
	}
}

// round takes (or renews) the lease, then starts the due deliveries that
// are not in flight yet.
func (d *Deliverer) round() {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	now := time.Now()
	if d.leaseTo.Sub(now) < d.o.LeaseTTL*2/3 { // renewed a third of the way in
		mine, err := d.o.Store.AcquireLease(ctx, leaseName, d.o.NodeID, now.UnixMilli(), now.Add(d.o.LeaseTTL).UnixMilli())
		if err != nil {
			d.log.Warn("webhook lease", "err", err)
			return
		}
		if !mine {
			d.leaseTo = time.Time{}
			return // another node delivers
		}
		d.leaseTo = now.Add(d.o.LeaseTTL)
	}
	read := time.Now()
	due, err := d.o.Store.DueDeliveries(ctx, now.UnixMilli(), 4*d.o.Workers)
	if err != nil {
		d.log.Warn("webhook outbox", "err", err)
		return
	}
	d.mu.Lock()
	for id, at := range d.flying {
		if !at.IsZero() && time.Since(at) > forgetAfter {
			delete(d.flying, id)
		}
	}
	d.mu.Unlock()
	for _, dl := range due {
		if !d.take(dl.OutboxID, read) {
			continue
		}
		select {
		case d.sem <- struct{}{}:
		case <-d.stop:
			d.done1(dl.OutboxID)
			return
		}
		d.wg.Add(1)
		go func(dl store.Delivery) {
			defer d.wg.Done()
			defer func() { <-d.sem }()
			d.drain(dl)
		}(dl)
	}
}

// Reads of the outbox take at most readTimeout; a record older than
// forgetAfter is older than any read still running, so its mark can go.
const (
	readTimeout = 5 * time.Second
	forgetAfter = 6 * readTimeout
)

// take claims a delivery found by a read that began at read: not when it
// is in flight, nor when its attempt was recorded since the read began
// (the read may not have seen that record: the event would go twice).
func (d *Deliverer) take(id int64, read time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.flying[id]; ok && (at.IsZero() || !at.Before(read)) {
		return false
	}
	d.flying[id] = time.Time{}
	return true
}

// done1 marks a delivery's attempt recorded (now): reads that began
// before this must not take it again (see take).
func (d *Deliverer) done1(id int64) {
	d.mu.Lock()
	d.flying[id] = time.Now()
	d.mu.Unlock()
}

// queueRun bounds the events one worker sends from a queue in a row.
const queueRun = 32

// drain sends dl, then, while they succeed, the queue's next due events
// (up to queueRun), each in order and only once: a busy queue does not
// wait for a new read of the outbox per event. Record frees each.
func (d *Deliverer) drain(dl store.Delivery) {
	for i := 0; ; i++ {
		f := d.deliver(dl)
		d.finished <- f
		if f.State != store.DeliveryDelivered || i+1 >= queueRun || d.ctx.Err() != nil {
			return
		}
		read := time.Now()
		ctx, cancel := context.WithTimeout(d.ctx, readTimeout)
		next, ok, err := d.o.Store.NextInQueue(ctx, dl, read.UnixMilli())
		cancel()
		if err != nil || !ok || !d.take(next.OutboxID, read) {
			return // none due, or another worker has it or just sent it
		}
		dl = next
	}
}

// deliver makes one attempt and returns it with the delivery's next state.
func (d *Deliverer) deliver(dl store.Delivery) store.Finished {
	start := time.Now()
	code, err := d.post(dl, start)
	a := store.Attempt{EventID: dl.Event.ID, EventType: dl.Event.Type, MeetingID: dl.Event.MeetingID, Seq: dl.Event.Seq,
		Attempt: dl.Attempts + 1, At: start, StatusCode: code, Duration: time.Since(start)}
	state, next := store.DeliveryDelivered, int64(0)
	if err != nil {
		a.Error = err.Error()
		if len(a.Error) > 500 {
			a.Error = a.Error[:500]
		}
		state = store.DeliveryPending
		if dl.Attempts >= len(d.o.Schedule) {
			state = store.DeliveryFailed
			d.log.Warn("webhook event given up", "webhook", dl.Webhook.ID, "event", dl.Event.ID, "attempts", a.Attempt)
		} else {
			next = time.Now().Add(d.o.Schedule[dl.Attempts]).UnixMilli()
		}
	}
	return store.Finished{Delivery: dl, Attempt: a, State: state, NextAt: next}
}

// post sends the event, signed; any answer but 2xx is a failure.
func (d *Deliverer) post(dl store.Delivery, at time.Time) (int, error) {
	wh, err := standardwebhooks.NewWebhook(dl.Webhook.Secret)
	if err != nil {
		return 0, fmt.Errorf("secret: %w", err)
	}
	sig, err := wh.Sign(dl.Event.ID, at, dl.Event.Payload)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, dl.Webhook.URL, bytes.NewReader(dl.Event.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stagekit-webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, dl.Event.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	res, err := d.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("endpoint answered %s", res.Status)
	}
	return res.StatusCode, nil
}
