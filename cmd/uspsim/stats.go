package main

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// hist is a latency histogram with logarithmic buckets (about 4% wide),
// cheap to fill from many goroutines' results and to merge across worker
// processes.
type hist struct {
	Counts []uint64 `json:"counts"` // bucket i holds durations up to bucketBound(i)
	Max    float64  `json:"max_ms"`
	Sum    float64  `json:"sum_ms"`
}

const histBuckets = 400

// bucketBound is the upper bound of bucket i, in milliseconds: 10 µs
// growing by 4% a bucket (bucket 399 ends past 10 hours).
func bucketBound(i int) float64 { return 0.01 * math.Pow(1.04, float64(i)) }

func bucketOf(ms float64) int {
	if ms <= 0.01 {
		return 0
	}
	i := int(math.Ceil(math.Log(ms/0.01) / math.Log(1.04)))
	return min(max(i, 0), histBuckets-1)
}

func (h *hist) add(d time.Duration) {
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	ms := float64(d) / float64(time.Millisecond)
	h.Counts[bucketOf(ms)]++
	h.Sum += ms
	h.Max = max(h.Max, ms)
}

func (h *hist) merge(o hist) {
	if o.Counts == nil {
		return
	}
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Sum += o.Sum
	h.Max = max(h.Max, o.Max)
}

func (h *hist) count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q,
// capped at the largest value seen.
func (h *hist) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= max(rank, 1) {
			return min(bucketBound(i), h.Max)
		}
	}
	return h.Max
}

// latency is a histogram's summary for the JSON report.
type latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *hist) summary() latency {
	n := h.count()
	if n == 0 {
		return latency{}
	}
	r := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	return latency{Count: n, Mean: r(h.Sum / float64(n)), P50: r(h.quantile(0.5)), P90: r(h.quantile(0.9)),
		P99: r(h.quantile(0.99)), Max: r(h.Max)}
}

// counters are what one process counts while it simulates; snapshot
// turns them into a [report] that merges with other processes' reports.
type counters struct {
	agentsUp, startFailed                  atomic.Int64
	connectsSent, bootsSent                atomic.Int64
	notifySent, notifyRetrans, notifyNoAck atomic.Int64
	notifyAnswered, notifyRespUnknown      atomic.Int64
	requests, responses, errorsFromCtl     atomic.Int64
	sendErrors, undecodable                atomic.Int64
	downs, reconnects, forcedDrops         atomic.Int64
	valueChanges, events                   atomic.Int64

	mu          sync.Mutex
	byType      map[string]int64 // requests from the controller, by message type
	notifyResp  hist             // notification sent to its NotifyResp
	firstReq    hist             // Boot! sent to the controller's first request
	reconnectIn hist             // connection lost to up again
	start       hist             // Start called to Boot! out
	faulty      map[string]int64 // agents by fault
}

func newCounters() *counters {
	return &counters{byType: map[string]int64{}, faulty: map[string]int64{}}
}

func (c *counters) observe(h *hist, d time.Duration) {
	c.mu.Lock()
	h.add(d)
	c.mu.Unlock()
}

func (c *counters) countType(t string) {
	c.mu.Lock()
	c.byType[t]++
	c.mu.Unlock()
}

// report is the figures of one process or, merged, of the whole run. The
// JSON summary is built from it.
type report struct {
	Agents            int64            `json:"agents"`
	AgentsUp          int64            `json:"agents_up"`
	StartFailed       int64            `json:"start_failed"`
	ConnectsSent      int64            `json:"connect_records_sent"`
	BootsSent         int64            `json:"boot_events_sent"`
	NotifySent        int64            `json:"notify_sent"`
	NotifyRetrans     int64            `json:"notify_retransmissions"`
	NotifyNoAck       int64            `json:"notify_sent_without_resp"`
	NotifyAnswered    int64            `json:"notify_answered"`
	NotifyUnanswered  int64            `json:"notify_unanswered"`
	NotifyRespUnknown int64            `json:"notify_resp_unmatched"`
	Requests          int64            `json:"requests_received"`
	RequestsByType    map[string]int64 `json:"requests_by_type"`
	Responses         int64            `json:"responses_sent"`
	ErrorsFromCtl     int64            `json:"errors_from_controller"`
	SendErrors        int64            `json:"send_errors"`
	Undecodable       int64            `json:"undecodable_records"`
	Downs             int64            `json:"connections_lost"`
	Reconnects        int64            `json:"reconnects"`
	ForcedDrops       int64            `json:"forced_drops"`
	ValueChanges      int64            `json:"value_changes"`
	Events            int64            `json:"events"`
	Faulty            map[string]int64 `json:"faulty_agents"`
	NotifyResp        hist             `json:"notify_resp_hist,omitzero"`
	FirstReq          hist             `json:"first_request_hist,omitzero"`
	ReconnectIn       hist             `json:"reconnect_hist,omitzero"`
	Start             hist             `json:"start_hist,omitzero"`
	HeapBytes         uint64           `json:"heap_bytes"`
	StackBytes        uint64           `json:"stack_bytes"`
	RSSBytes          uint64           `json:"rss_bytes"`
	Processes         int              `json:"processes"`
}

// snapshot reads the counters; pending is the number of notifications
// still waiting for their NotifyResp.
func (c *counters) snapshot(agents int, pending int64) report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := report{
		Agents: int64(agents), AgentsUp: c.agentsUp.Load(), StartFailed: c.startFailed.Load(),
		ConnectsSent: c.connectsSent.Load(), BootsSent: c.bootsSent.Load(),
		NotifySent: c.notifySent.Load(), NotifyRetrans: c.notifyRetrans.Load(), NotifyNoAck: c.notifyNoAck.Load(),
		NotifyAnswered: c.notifyAnswered.Load(), NotifyUnanswered: pending, NotifyRespUnknown: c.notifyRespUnknown.Load(),
		Requests: c.requests.Load(), Responses: c.responses.Load(), ErrorsFromCtl: c.errorsFromCtl.Load(),
		SendErrors: c.sendErrors.Load(), Undecodable: c.undecodable.Load(),
		Downs: c.downs.Load(), Reconnects: c.reconnects.Load(), ForcedDrops: c.forcedDrops.Load(),
		ValueChanges: c.valueChanges.Load(), Events: c.events.Load(),
		RequestsByType: map[string]int64{}, Faulty: map[string]int64{}, Processes: 1,
	}
	for k, v := range c.byType {
		r.RequestsByType[k] = v
	}
	for k, v := range c.faulty {
		r.Faulty[k] = v
	}
	r.NotifyResp.merge(c.notifyResp)
	r.FirstReq.merge(c.firstReq)
	r.ReconnectIn.merge(c.reconnectIn)
	r.Start.merge(c.start)
	return r
}

// merge adds another process's report.
func (r *report) merge(o report) {
	r.Agents += o.Agents
	r.AgentsUp += o.AgentsUp
	r.StartFailed += o.StartFailed
	r.ConnectsSent += o.ConnectsSent
	r.BootsSent += o.BootsSent
	r.NotifySent += o.NotifySent
	r.NotifyRetrans += o.NotifyRetrans
	r.NotifyNoAck += o.NotifyNoAck
	r.NotifyAnswered += o.NotifyAnswered
	r.NotifyUnanswered += o.NotifyUnanswered
	r.NotifyRespUnknown += o.NotifyRespUnknown
	r.Requests += o.Requests
	r.Responses += o.Responses
	r.ErrorsFromCtl += o.ErrorsFromCtl
	r.SendErrors += o.SendErrors
	r.Undecodable += o.Undecodable
	r.Downs += o.Downs
	r.Reconnects += o.Reconnects
	r.ForcedDrops += o.ForcedDrops
	r.ValueChanges += o.ValueChanges
	r.Events += o.Events
	if r.RequestsByType == nil {
		r.RequestsByType = map[string]int64{}
	}
	for k, v := range o.RequestsByType {
		r.RequestsByType[k] += v
	}
	if r.Faulty == nil {
		r.Faulty = map[string]int64{}
	}
	for k, v := range o.Faulty {
		r.Faulty[k] += v
	}
	r.NotifyResp.merge(o.NotifyResp)
	r.FirstReq.merge(o.FirstReq)
	r.ReconnectIn.merge(o.ReconnectIn)
	r.Start.merge(o.Start)
	r.HeapBytes += o.HeapBytes
	r.StackBytes += o.StackBytes
	r.RSSBytes += o.RSSBytes
	r.Processes += o.Processes
}
