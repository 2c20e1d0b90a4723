package httpmetrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StatusHandler is a handler that returns the status it answered: it can be counted
// without wrapping its ResponseWriter.
type StatusHandler interface {
	ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int
}

// HandleStatus is Handle for a StatusHandler: the same series (route=pattern, code),
// observed without promhttp's per-request work (a wrapped ResponseWriter, a label map
// hashed twice): the counter and histogram of each of codes are bound once, here, and
// an answer with another code is counted under its own label as it comes. It is for
// hot routes (the ingest's callbacks).
func (rt *Routes) HandleStatus(mux *http.ServeMux, pattern string, h StatusHandler, codes ...int) {
	b := &boundRoute{h: h, requests: rt.requests.MustCurryWith(prometheus.Labels{"route": pattern}),
		duration: rt.duration.MustCurryWith(prometheus.Labels{"route": pattern})}
	for _, code := range codes {
		c := strconv.Itoa(code)
		b.bound = append(b.bound, boundCode{code: code, requests: b.requests.WithLabelValues(c), duration: b.duration.WithLabelValues(c)})
	}
	mux.Handle(pattern, b)
}

type boundRoute struct {
	h        StatusHandler
	requests *prometheus.CounterVec
	duration prometheus.ObserverVec
	bound    []boundCode // a handful: a scan beats a map
}

type boundCode struct {
	code     int
	requests prometheus.Counter
	duration prometheus.Observer
}

func (b *boundRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := b.h.ServeHTTPStatus(w, r)
	took := time.Since(start).Seconds()
	for _, c := range b.bound {
		if c.code == code {
			c.requests.Inc()
			c.duration.Observe(took)
			return
		}
	}
	label := strconv.Itoa(code)
	b.requests.WithLabelValues(label).Inc()
	b.duration.WithLabelValues(label).Observe(took)
}
