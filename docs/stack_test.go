package docs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/proctest"
)

// stack is the local stack of make run for the stack blocks of one document, started
// at its first stack block on free ports (devstacktest) and shared by the blocks that
// follow, as a reader runs make run once and goes down the page.
type stack struct {
	urls devstack.URLs
}

// makeRunPorts are the ports make run listens on by default, and the service on each.
var makeRunPorts = map[string]func(devstack.URLs) string{
	"8080": func(u devstack.URLs) string { return u.Initiator },
	"8081": func(u devstack.URLs) string { return u.Ingest },
	"8082": func(u devstack.URLs) string { return u.Worker },
	"8090": func(u devstack.URLs) string { return u.Sandbox },
	"8084": func(u devstack.URLs) string { return u.Webhooks },
	"4222": func(u devstack.URLs) string { return u.NATS },
}

func startStack(t *testing.T) *stack {
	t.Helper()
	return &stack{urls: devstacktest.Start(t, devstacktest.Options{})}
}

// ports maps make run's default ports to where the test's stack listens.
func (s *stack) ports() map[string]string {
	m := map[string]string{}
	for port, svc := range makeRunPorts {
		m[port] = hostPort(svc(s.urls))
	}
	return m
}

// env is what a stack block finds in its environment: the stack's addresses in the
// variables the commands read for them (those make run takes, NATS_URL, and the
// trigger's TRIGGER_URL and TRIGGER_FAILURE_URL), and what make run prints for the
// reader to paste: WORKER_READ_KEY (the worker's read key), WORKER_OPERATOR_KEY (its
// operator key), NATS_PASSWORD (the subscriber's) and EVENTS_PUBLIC_KEY (the events key).
func (s *stack) env() []string {
	u := s.urls
	return []string{
		"INITIATOR_ADDR=" + hostPort(u.Initiator), "INGEST_ADDR=" + hostPort(u.Ingest),
		"WORKER_ADDR=" + hostPort(u.Worker), "SANDBOX_ADDR=" + hostPort(u.Sandbox), "WEBHOOKS_ADDR=" + hostPort(u.Webhooks), "NATS_URL=" + u.NATS,
		"TRIGGER_URL=" + u.Ingest + "/epay/postlink", "TRIGGER_FAILURE_URL=" + u.Ingest + "/epay/failure-postlink",
		"WORKER_READ_KEY=" + u.WorkerReadKey, "WORKER_OPERATOR_KEY=" + u.WorkerOperatorKey,
		"NATS_PASSWORD=" + u.NATSUsers[natsbus.RoleSubscriber].Password, "EVENTS_PUBLIC_KEY=" + u.EventsPublicKey,
	}
}

// settle waits until the worker consumes (its /readyz says 200: the stack is ready before
// the worker has taken its shards) and has applied every inbox message, as a reader's
// pause between two blocks gives it time to: the next block may read what this one made.
func (s *stack) settle(ctx context.Context) error {
	nc, err := natsbus.ConnectAs(s.urls.NATS, "docs-test", natsbus.RoleAdmin, s.urls.NATSUsers[natsbus.RoleAdmin], slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		busy, err := workerNotReady(ctx, s.urls.Worker)
		if err == nil && busy == "" {
			busy, err = inboxBusy(ctx, js)
		}
		if err == nil && busy == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the worker did not apply the inbox within 30s: %s %v", busy, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// workerNotReady says why the worker is not ready, or "".
func workerNotReady(ctx context.Context, worker string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, worker+"/readyz", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Sprintf("worker /readyz: %s %s", resp.Status, body), nil
	}
	return "", nil
}

// inboxBusy names a consumer of EPAY_INBOX with messages pending or unacked, or "".
func inboxBusy(ctx context.Context, js jetstream.JetStream) (string, error) {
	st, err := js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		return "", err
	}
	infos := st.ListConsumers(ctx)
	for ci := range infos.Info() {
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			return fmt.Sprintf("consumer %s: %d pending, %d unacked", ci.Name, ci.NumPending, ci.NumAckPending), nil
		}
	}
	return "", infos.Err()
}

var localAddr = regexp.MustCompile(`\b(localhost|127\.0\.0\.1):(\d{2,5})\b`)

// rewriteAddrs points the local addresses of a block (localhost:PORT, 127.0.0.1:PORT)
// where the test listens: a port of ports to its address, every other to a free port
// (the same one for each mention), so that no block needs a fixed port of a machine
// where other stacks may run.
func rewriteAddrs(text string, ports map[string]string) (string, error) {
	free := map[string]string{}
	var err error
	out := localAddr.ReplaceAllStringFunc(text, func(s string) string {
		m := localAddr.FindStringSubmatch(s)
		if a, ok := ports[m[2]]; ok {
			_, p, _ := net.SplitHostPort(a)
			return m[1] + ":" + p
		}
		if _, ok := free[m[2]]; !ok {
			p, ferr := proctest.FreePort()
			if ferr != nil {
				err = ferr
			}
			free[m[2]] = strconv.Itoa(p)
		}
		return m[1] + ":" + free[m[2]]
	})
	return out, err
}

// hostPort is the host:port of a URL.
func hostPort(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}
