// Package etcdconfprom exports an etcdconf watcher's health as Prometheus
// metrics. It is a package of its own so that the etcdconf core does not
// depend on a metrics library.
//
//	c := etcdconfprom.NewCollector("myapp")
//	prometheus.MustRegister(c)
//	w, err := etcdconf.New[Config](ctx, cli, "/myapp/config/", etcdconf.WithObserver(c.Observer()))
package etcdconfprom

import (
	"fmt"
	"sync"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/prometheus/client_golang/prometheus"
)

// A Collector is a prometheus.Collector for one watcher at a time, fed by
// the [etcdconf.Observer] that [Collector.Observer] returns: a second
// watcher given the same collector fails in New while the first is open
// (make one collector per watcher); once the first is closed, the next
// New may take it. Metrics carry a "watcher" label with the name given to
// NewCollector:
//
//	etcdconf_applied_revision                   revision of the current snapshot
//	etcdconf_connected                          1 while the watch is live
//	etcdconf_connectivity{state}                1 for the watcher's etcdconf.Connectivity, 0 for the
//	                                            others; state is connected, disconnected or
//	                                            serving_snapshot_file
//	etcdconf_connectivity_changes_total{state}  times each state was entered, the first included
//	etcdconf_since_current_seconds              since the watcher last knew it was current
//	etcdconf_reloads_total                      full reloads after the first load
//	etcdconf_retries_total                      failed recovery attempts (reconnects)
//	etcdconf_rejections_total                   revisions rejected by decode or Validate
//	etcdconf_decode_duration_seconds            histogram of decodes
type Collector struct {
	decode  *prometheus.HistogramVec
	changes *prometheus.CounterVec
	descs   map[string]*prometheus.Desc
	name    string

	mu       sync.Mutex // guards status and attached
	status   func() etcdconf.Status
	attached bool // a watcher's New has taken the collector
}

// NewCollector returns a collector whose metrics are labelled watcher=name.
// Pass its Observer to etcdconf.New with etcdconf.WithObserver.
func NewCollector(name string) *Collector {
	label := prometheus.Labels{"watcher": name}
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc("etcdconf_"+metric, help, nil, label)
	}
	c := &Collector{
		name: name,
		decode: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "etcdconf_decode_duration_seconds",
			Help:        "Time to decode and validate one snapshot.",
			ConstLabels: label,
			Buckets:     prometheus.ExponentialBuckets(0.0001, 4, 8),
		}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "etcdconf_connectivity_changes_total",
			Help:        "Times the watcher entered each connectivity state, the first at start included.",
			ConstLabels: label,
		}, []string{"state"}),
		descs: map[string]*prometheus.Desc{
			"revision":  desc("applied_revision", "Revision of the current snapshot."),
			"connected": desc("connected", "1 while the watch is established and answering."),
			"connectivity": prometheus.NewDesc("etcdconf_connectivity",
				"1 for the watcher's connectivity (the state label), 0 for the others.", []string{"state"}, label),
			"since":      desc("since_current_seconds", "Seconds since the watcher last knew it was current."),
			"reloads":    desc("reloads_total", "Full reloads after the first load."),
			"retries":    desc("retries_total", "Failed attempts to recover a lost watch."),
			"rejections": desc("rejections_total", "Revisions rejected because they did not decode or validate."),
		},
	}
	for _, st := range states {
		c.changes.WithLabelValues(st.String())
	}
	return c
}

// states are the values of the state label.
var states = []etcdconf.Connectivity{etcdconf.Connected, etcdconf.Disconnected, etcdconf.ServingSnapshotFile}

// Observer returns the hooks that connect the collector to one watcher:
// pass them to etcdconf.New with etcdconf.WithObserver. From then on the
// collector reports the watcher's Status at every scrape, times its
// decodes and counts its changes of connectivity. A collector follows one
// watcher at a time: New refuses a second one while the first is open.
// After the first's Close, or a New that failed, the collector is free
// again; the figures it reads from Status (reloads, retries, rejections)
// then start again from the next watcher's, as they do after a restart,
// which Prometheus' rate and increase read as a counter reset.
func (c *Collector) Observer() etcdconf.Observer {
	return etcdconf.Observer{Attach: c.attach, Detach: c.detach, Started: c.track, Decoded: c.decoded, Connectivity: c.connectivity}
}

// attach takes the collector for one watcher, and refuses a second: its
// counters would follow the second watcher and go backwards.
func (c *Collector) attach() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.attached {
		return fmt.Errorf("etcdconfprom: collector %q already follows a watcher: make one collector per watcher (NewCollector with its own name)", c.name)
	}
	c.attached = true
	return nil
}

func (c *Collector) detach() {
	c.mu.Lock()
	c.attached = false
	c.mu.Unlock()
}

func (c *Collector) track(status func() etcdconf.Status) {
	c.mu.Lock()
	c.status = status
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	c.decode.Describe(ch)
	c.changes.Describe(ch)
}

// Collect implements prometheus.Collector. Before a watcher starts with
// the collector's Observer, it reports only the decode histogram and the
// connectivity changes.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.decode.Collect(ch)
	c.changes.Collect(ch)
	c.mu.Lock()
	status := c.status
	c.mu.Unlock()
	if status == nil {
		return
	}
	st := status()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(c.descs["revision"], prometheus.GaugeValue, float64(st.Revision))
	ch <- prometheus.MustNewConstMetric(c.descs["connected"], prometheus.GaugeValue, connected)
	for _, s := range states {
		v := 0.0
		if s == st.Connectivity() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.descs["connectivity"], prometheus.GaugeValue, v, s.String())
	}
	ch <- prometheus.MustNewConstMetric(c.descs["since"], prometheus.GaugeValue, time.Since(st.Confirmed).Seconds())
	ch <- prometheus.MustNewConstMetric(c.descs["reloads"], prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(c.descs["retries"], prometheus.CounterValue, float64(st.Retries))
	ch <- prometheus.MustNewConstMetric(c.descs["rejections"], prometheus.CounterValue, float64(st.Rejections))
}

func (c *Collector) decoded(_ int64, d time.Duration, err error) {
	result := "applied"
	if err != nil {
		result = "rejected"
	}
	c.decode.WithLabelValues(result).Observe(d.Seconds())
}

func (c *Collector) connectivity(to etcdconf.Connectivity) {
	c.changes.WithLabelValues(to.String()).Inc()
}

var _ prometheus.Collector = (*Collector)(nil)
