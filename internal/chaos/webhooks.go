package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// The webhooks service under the chaos: three merchant endpoints, each a receiver that
// misbehaves its own way, registered before the load; the service is SIGKILLed once
// and goes through NATS's restart with the rest. The verdict, per endpoint: every
// payment event its filter matches was received (lost=0), nothing else was, each at
// least once with a valid signature, in stream order per invoice; redeliveries are the
// receiver's to deduplicate by webhook-id (counted, not a problem).

const (
	webhooksAPIKey  = "chaos-webhooks-api-key"
	webhooksTimeout = time.Second // WEBHOOKS_TIMEOUT: a receiver slower than this times out
	// webhooksSchedule (WEBHOOKS_RETRY_SCHEDULE): 8 attempts within half a minute, the
	// documented 28 hours scaled down, so that the run waits seconds for its retries.
	webhooksSchedule = "1s,2s,3s,4s,5s,6s,7s"
	eventTypePrefix  = "kz.epay.payment."
)

// hookReceiver is one merchant endpoint: it answers each request as behave says and
// records what it took (answered 2xx: the merchant processed it).
type hookReceiver struct {
	name   string
	types  []string                                          // the endpoint's filter; nil: every event
	behave func(id string, attempt int) (int, time.Duration) // status and delay of the attempt-th request of id
	id     string                                            // the endpoint's id, once registered
	wh     *standardwebhooks.Webhook
	srv    *http.Server
	url    string

	mu       sync.Mutex
	attempts map[string]int  // requests by webhook-id
	taken    map[string]bool // ids answered 2xx at least once
	order    []string        // ids in the order first answered 2xx
	badSig   int
}

// unlucky picks about one id in n, the same for every run of one id.
func unlucky(id string, n uint32) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%n == 0
}

// hookReceivers are the three endpoints: one that fails, one that times out, one that
// is slow. One event in ten misbehaves on its first attempt only (the retry a second later
// goes through): rarer would test little, commoner could open a breaker (5 failures in
// a row) and wait a minute.
func hookReceivers() []*hookReceiver {
	return []*hookReceiver{
		{name: "failing", behave: func(id string, n int) (int, time.Duration) {
			if n == 1 && unlucky(id, 10) {
				return http.StatusInternalServerError, 0
			}
			return http.StatusNoContent, 0
		}},
		{name: "timeout", types: []string{eventTypePrefix + "paid"}, behave: func(id string, n int) (int, time.Duration) {
			if n == 1 && unlucky(id, 10) {
				return http.StatusOK, webhooksTimeout + 500*time.Millisecond // processed, but the answer comes too late
			}
			return http.StatusOK, 0
		}},
		{name: "slow", types: []string{eventTypePrefix + "failed", eventTypePrefix + "review"}, behave: func(id string, _ int) (int, time.Duration) {
			h := fnv.New32a()
			h.Write([]byte(id))
			return http.StatusAccepted, time.Duration(100+h.Sum32()%400) * time.Millisecond
		}},
	}
}

func (rc *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.attempts[id]++
	n := rc.attempts[id]
	wh := rc.wh
	rc.mu.Unlock()
	status, delay := rc.behave(id, n)
	if wh != nil && wh.Verify(body, r.Header) != nil {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		status = http.StatusUnauthorized
	}
	if status/100 == 2 {
		rc.mu.Lock()
		if !rc.taken[id] {
			rc.taken[id] = true
			rc.order = append(rc.order, id)
		}
		rc.mu.Unlock()
	}
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
	}
	w.WriteHeader(status)
}

func (rc *hookReceiver) start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rc.attempts, rc.taken = map[string]int{}, map[string]bool{}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	rc.url = "http://" + ln.Addr().String() + "/hook/" + rc.name
	go rc.srv.Serve(ln)
	return nil
}

// hooks is the webhooks service of a run and its receivers.
type hooks struct {
	svc       *svc
	receivers []*hookReceiver
	kills     int
}

// newHooks makes (does not start) the webhooks process, as the NATS user webhooks,
// allowed to deliver to the receivers on loopback over http.
func newHooks(cfg Config, st *stack, bin string) (*hooks, error) {
	port, err := proctest.FreePort()
	if err != nil {
		return nil, err
	}
	replicas := "1"
	if cfg.Cluster {
		replicas = "3"
	}
	a := st.users[natsbus.RoleWebhooks]
	h := &hooks{receivers: hookReceivers()}
	h.svc = &svc{url: "http://127.0.0.1:" + strconv.Itoa(port), p: &proctest.Proc{Name: "webhooks", Path: bin,
		Log: filepath.Join(cfg.Dir, "webhooks.log"),
		Env: append(baseEnv(), "LOG_LEVEL=warn", "LOG_FORMAT=json", "NATS_URL="+st.natsURL, "NATS_USER="+a.User, "NATS_PASSWORD="+a.Password,
			"WEBHOOKS_ADDR=127.0.0.1:"+strconv.Itoa(port), "WEBHOOKS_API_KEYS="+webhooksAPIKey, "WEBHOOKS_REPLICAS="+replicas,
			"WEBHOOKS_ALLOW_PRIVATE=127.0.0.0/8", "WEBHOOKS_ALLOW_HTTP=true", "WEBHOOKS_TIMEOUT="+webhooksTimeout.String(), "WEBHOOKS_RETRY_SCHEDULE="+webhooksSchedule)}}
	return h, nil
}

// start runs the receivers and the service, and registers each receiver's endpoint.
func (h *hooks) start(ctx context.Context) error {
	for _, rc := range h.receivers {
		if err := rc.start(); err != nil {
			return err
		}
	}
	if err := h.svc.p.Start(); err != nil {
		return err
	}
	if err := h.svc.p.WaitHTTP(ctx, h.svc.url+"/readyz", 60*time.Second); err != nil {
		return err
	}
	for _, rc := range h.receivers {
		var created struct{ ID, Secret string }
		body, _ := json.Marshal(map[string]any{"url": rc.url, "eventTypes": rc.types})
		if err := h.call(ctx, http.MethodPost, "/v1/webhooks/endpoints", body, &created); err != nil {
			return fmt.Errorf("register %s: %w", rc.name, err)
		}
		wh, err := standardwebhooks.NewWebhook(created.Secret)
		if err != nil {
			return err
		}
		rc.mu.Lock()
		rc.id, rc.wh = created.ID, wh
		rc.mu.Unlock()
	}
	return nil
}

// call makes a request of the webhooks API and decodes a 2xx answer into out.
func (h *hooks) call(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.svc.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+webhooksAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// killOnce SIGKILLs the service at 40% of the load and starts it again.
func (h *hooks) killOnce(ctx context.Context, cfg Config) {
	if !sleep(ctx, cfg.Load*4/10) {
		return
	}
	if err := h.svc.p.Kill(5 * time.Second); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
		return
	}
	h.kills++
	fmt.Fprintln(cfg.Progress, "chaos: webhooks killed")
	sleep(ctx, 300*time.Millisecond)
	if err := h.svc.p.Start(); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
}

func (h *hooks) stop() {
	h.svc.p.Stop(20 * time.Second)
	for _, rc := range h.receivers {
		rc.srv.Close()
	}
}

// waitDelivered waits until the service's consumer has every event of PAYMENT_EVENTS
// acknowledged: each delivered, or in a dead letter.
func (h *hooks) waitDelivered(ctx context.Context, js jetstream.JetStream, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := js.Consumer(ctx, natsbus.StreamEvents, "webhooks")
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ctx)
		}
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
			}
			return fmt.Errorf("webhooks not delivered within %s: %w", timeout, err)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// EndpointDelivery is the verdict on one webhook endpoint of a run.
type EndpointDelivery struct {
	Name       string
	Expected   int // events of PAYMENT_EVENTS its filter matches
	Distinct   int // distinct webhook-ids it took (answered 2xx)
	Lost       int // expected, never taken
	Unexpected int // taken, not expected (another type, or no such event)
	Requests   int // every request, retries and redeliveries included
	Dead       int // in its dead letter
	Reordered  int // invoices whose events it first took in another order than the stream's
	BadSig     int // requests the Standard Webhooks library refused
}

func (e EndpointDelivery) String() string {
	return fmt.Sprintf("webhooks: endpoint=%s expected=%d distinct=%d lost=%d unexpected=%d requests=%d dead=%d reordered=%d bad_signatures=%d",
		e.Name, e.Expected, e.Distinct, e.Lost, e.Unexpected, e.Requests, e.Dead, e.Reordered, e.BadSig)
}

// ok is true when the endpoint got exactly its events, each signed, in order.
func (e EndpointDelivery) ok() bool {
	return e.Lost == 0 && e.Unexpected == 0 && e.Distinct == e.Expected && e.Dead == 0 && e.Reordered == 0 && e.BadSig == 0
}

// hookEvent is a payment event as the verifier reads it from PAYMENT_EVENTS.
type hookEvent struct{ id, typ, invoice string }

// paymentEvents reads every event of PAYMENT_EVENTS, in stream order.
func paymentEvents(ctx context.Context, js jetstream.JetStream) ([]hookEvent, error) {
	s, err := js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []hookEvent
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PAYMENT_EVENTS %d: %w", seq, err)
		}
		var ce struct{ ID, Type, Subject string }
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			return nil, fmt.Errorf("PAYMENT_EVENTS %d: %w", seq, err)
		}
		out = append(out, hookEvent{ce.ID, ce.Type, ce.Subject})
	}
	return out, nil
}

// verdict compares what each receiver took with the events its filter matches.
func (h *hooks) verdict(ctx context.Context, events []hookEvent) []EndpointDelivery {
	var out []EndpointDelivery
	for _, rc := range h.receivers {
		rc.mu.Lock()
		e := EndpointDelivery{Name: rc.name, Distinct: len(rc.taken), BadSig: rc.badSig}
		for _, n := range rc.attempts {
			e.Requests += n
		}
		want := map[string]bool{}
		byInvoice := map[string][]string{}
		for _, ev := range events {
			if rc.types == nil || slices.Contains(rc.types, ev.typ) {
				want[ev.id] = true
				if !rc.taken[ev.id] {
					e.Lost++
				} else { // the order of what it took (a lost one is counted above)
					byInvoice[ev.invoice] = append(byInvoice[ev.invoice], ev.id)
				}
			}
		}
		e.Expected = len(want)
		for id := range rc.taken {
			if !want[id] {
				e.Unexpected++
			}
		}
		pos := map[string]int{}
		for i, id := range rc.order {
			pos[id] = i
		}
		for _, ids := range byInvoice {
			if !slices.IsSortedFunc(ids, func(a, b string) int { return pos[a] - pos[b] }) {
				e.Reordered++
			}
		}
		rc.mu.Unlock()
		var dl struct{ DeadLetters []json.RawMessage }
		if err := h.call(ctx, http.MethodGet, "/v1/webhooks/endpoints/"+rc.id+"/dead-letters", nil, &dl); err != nil {
			e.Dead = -1
		} else {
			e.Dead = len(dl.DeadLetters)
		}
		out = append(out, e)
	}
	return out
}

// webhooksLine is the verdict of every endpoint, a line each.
func webhooksLine(ds []EndpointDelivery) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// judge waits for the service to deliver everything, then records each endpoint's
// verdict in sum (a problem for each endpoint that lost, doubled or misordered).
func (h *hooks) judge(ctx context.Context, cfg Config, js jetstream.JetStream, sum *Summary) {
	sum.WebhookKills = h.kills
	if h.svc.p.Exited() {
		sum.problem("webhooks exited on its own; see %s", h.svc.p.Log)
		if err := h.svc.p.Start(); err != nil {
			sum.problem("webhooks: %v", err)
			return
		}
	}
	start := time.Now()
	if err := h.waitDelivered(ctx, js, cfg.Drain); err != nil {
		sum.problem("%v", err)
	}
	events, err := paymentEvents(ctx, js)
	if err != nil {
		sum.problem("webhooks verdict: %v", err)
		return
	}
	sum.Webhooks = h.verdict(ctx, events)
	for _, d := range sum.Webhooks {
		if !d.ok() {
			sum.problem("%s", d)
		}
	}
	fmt.Fprintf(cfg.Progress, "%s\nchaos: webhooks delivered %s after the worker drained\n", webhooksLine(sum.Webhooks), time.Since(start).Round(time.Second))
}
