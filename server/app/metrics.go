package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stagekit/stagekit/stage"
)

// metrics are the server's Prometheus metrics, on a registry of its own (a
// test process runs several servers).
type metrics struct {
	reg     *prometheus.Registry
	actions *prometheus.CounterVec
}

func newMetrics(a *App) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg, actions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stagekit_stage_actions_total",
		Help: "Stage actions committed, by kind.",
	}, []string{"kind"})}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.actions)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_rooms", Help: "Live rooms on this server."},
			func() float64 { return float64(a.hub.Stats().Rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_screenshares", Help: "Screen-share slots held in the rooms this server owns."},
			func() float64 { return float64(a.hub.Screenshares()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_connections", Help: "Open signaling connections."},
			func() float64 { return float64(a.hub.Stats().Connections) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_signal_messages_in_total", Help: "Signaling frames read from clients."},
			func() float64 { return float64(a.hub.Stats().MessagesIn) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_signal_messages_out_total", Help: "Signaling frames written to clients."},
			func() float64 { return float64(a.hub.Stats().MessagesOut) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_edge_batches_total", Help: "Batches of users' joins, actions, leaves and drops this edge sent to rooms' owners."},
			func() float64 { return float64(a.hub.Stats().EdgeBatches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_edge_batched_calls_total", Help: "Calls in those batches."},
			func() float64 { return float64(a.hub.Stats().EdgeBatchedCalls) }),
	)
	if a.sfu != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_media_tracks", Help: "Tracks being forwarded (each simulcast layer counts as one)."},
				func() float64 { return float64(a.sfu.Stats().Tracks) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_media_subscriptions", Help: "Forwarded (track, subscriber) pairs; a relay to another node counts as one subscriber."},
				func() float64 { return float64(a.sfu.Stats().Subscriptions) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_media_relays_out", Help: "Relays sending this node's tracks to other nodes (one per room and node)."},
				func() float64 { return float64(a.sfu.Stats().RelaysOut) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_media_relays_in", Help: "Relays receiving other nodes' tracks here (one per room and node)."},
				func() float64 { return float64(a.sfu.Stats().RelaysIn) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_in_total", Help: "RTP packets received from publishers allowed to publish."},
				func() float64 { return float64(a.sfu.Stats().PacketsIn) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_forwarded_total", Help: "RTP packet copies forwarded to subscribers."},
				func() float64 { return float64(a.sfu.Stats().PacketsOut) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_dropped_total", Help: "RTP packets dropped from users not allowed to publish."},
				func() float64 { return float64(a.sfu.Stats().PacketsDropped) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_shed_total", Help: "RTP packets not forwarded because the server was behind (waited too long, or video up to the next keyframe)."},
				func() float64 { return float64(a.sfu.Stats().PacketsShed) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_paced_total", Help: "Video packet copies that waited in a viewer's pacer before they went."},
				func() float64 { return float64(a.sfu.Stats().PacketsPaced) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_packets_pace_overflow_total", Help: "Video packet copies a viewer's full pacer queue sent ahead of the pace (more waited than its pace sends in 250 ms)."},
				func() float64 { return float64(a.sfu.Stats().PacketsPaceOverflow) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_retransmits_total", Help: "RTP packets sent again to viewers that reported them lost."},
				func() float64 { return float64(a.sfu.Stats().Retransmits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_retransmits_refused_total", Help: "RTP packets viewers reported lost that were not sent again: asked for too often, too soon after the last resend, too old, or beyond the viewer's pace."},
				func() float64 { return float64(a.sfu.Stats().RetransmitsRefused) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stagekit_media_keyframe_requests_total", Help: "Keyframe requests (PLI) sent to publishers."},
				func() float64 { return float64(a.sfu.Stats().KeyframeRequests) }),
		)
	}
	if n := a.node; n != nil {
		leases := prometheus.NewDesc("stagekit_lease_changes_total", "Room lease changes on this node: acquired, released, lost.", []string{"change"}, nil)
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stagekit_leases_held", Help: "Room leases this node holds."},
				func() float64 { return float64(n.Stats().Held) }),
			collectorFunc{desc: leases, collect: func(ch chan<- prometheus.Metric) {
				s := n.Stats()
				ch <- prometheus.MustNewConstMetric(leases, prometheus.CounterValue, float64(s.Acquired), "acquired")
				ch <- prometheus.MustNewConstMetric(leases, prometheus.CounterValue, float64(s.Released), "released")
				ch <- prometheus.MustNewConstMetric(leases, prometheus.CounterValue, float64(s.Lost), "lost")
			}},
		)
	}
	return m
}

func (m *metrics) stageAction(k stage.Kind) { m.actions.WithLabelValues(string(k)).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// collectorFunc is a collector of one description.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
