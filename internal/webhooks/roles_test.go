package webhooks_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// The webhooks user may not publish payment events, and no other role may read the
// bucket that holds the endpoints' secrets (sealed there too: TestEndpointSecretsAreSealedInTheBucket). The read is a direct get of the endpoint's
// key, which the webhooks user itself gets an answer to.
func TestOnlyTheWebhooksUserReadsTheSecrets(t *testing.T) {
	s := startStack(t, testConfig())
	id, _ := s.register(t, "http://127.0.0.1:1/hook")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connect := func(r natsbus.Role) *nats.Conn {
		nc, err := natsbus.ConnectAs(s.nats, "test-"+string(r), r, s.auth[r], slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	get := "$JS.API.DIRECT.GET.KV_" + webhooks.Bucket + ".$KV." + webhooks.Bucket + ".endpoints." + id
	read := func(r natsbus.Role) bool {
		msg, err := connect(r).Request(get, nil, 500*time.Millisecond)
		return err == nil && strings.Contains(string(msg.Data), `"secrets":`) // sealed, yet the entry itself
	}
	if !read(natsbus.RoleWebhooks) {
		t.Fatal("the webhooks user cannot read its own bucket: the probe is wrong")
	}
	js, _ := jetstream.New(connect(natsbus.RoleWebhooks), jetstream.WithDefaultTimeout(2*time.Second))
	if _, err := js.Publish(ctx, "payments.paid", []byte("{}")); err == nil {
		t.Error("the webhooks user published a payment event")
	}
	for _, r := range []natsbus.Role{natsbus.RoleWorker, natsbus.RoleSubscriber, natsbus.RoleInitiator, natsbus.RoleAdmin,
		natsbus.RoleIngest, natsbus.RoleDLQ} {
		if read(r) {
			t.Errorf("%s reads the endpoint's secret from %s", r, webhooks.Bucket)
		}
	}
}
