package natsbus

import (
	"fmt"
	"slices"
	"strings"

	"github.com/epayflow/epayflow/internal/inbox"
)

// Role is a kind of NATS client: each service, and the merchants' subscribers. Each role
// connects as its own NATS user and may publish and subscribe to exactly the subjects
// of its Permissions; the servers (natsembed for the local stack and the tests,
// deploy/k8s nats.conf for a cluster) enforce them, and a test checks that nats.conf
// grants exactly these.
type Role string

// The roles. The NATS user of a role is named like the role.
const (
	// RoleIngest publishes callbacks (epay.inbox.*.postlink).
	RoleIngest Role = "ingest"
	// RoleInitiator publishes invoice.created (epay.inbox.*.invoice) and owns the
	// invoiceId sequence bucket.
	RoleInitiator Role = "initiator"
	// RoleWorker reads the inbox, publishes payment events, status answers
	// (epay.inbox.*.status), operators' resolutions (epay.inbox.*.resolve) and the
	// DLQ. It uses the streams and buckets and checks their configuration (STREAM.INFO)
	// but may not create or change one: that is RoleStreams's.
	RoleWorker Role = "worker"
	// RoleStreams is `worker streams` (the worker's init container, or the worker
	// itself in the local stacks, on a second connection): it alone may create and
	// update the streams and buckets (EnsureAll), and it reads and writes no message.
	// Kept apart from RoleWorker so that the worker's password alone cannot change a
	// stream: with STREAM.UPDATE one could cap EPAY_STATE or EPAY_INBOX to one message,
	// seal EPAY_INBOX for good, or add a RePublish to KV_EPAY_WEBHOOKS and read it.
	RoleStreams Role = "streams"
	// RoleSubscriber is a merchant system: it reads payments.> through a consumer on
	// PAYMENT_EVENTS, and nothing else; it may not use the consumers reserved for the
	// services (ServiceDurables).
	RoleSubscriber Role = "subscriber"
	// RoleAdmin is an operator with the nats CLI (deploy/k8s/tools/nats-box.yaml): it
	// may look at streams and consumers and remove a consumer (moving a shard), but
	// neither publish nor read a message.
	RoleAdmin Role = "admin"
	// RoleDLQ is `worker dlq`, run by an operator: it may read and delete EPAY_DLQ
	// entries, record a discarded one on EPAY_DLQ_DISCARDED (nobody else may), and
	// republish one to its inbox subject (any kind: a poisoned callback or
	// invoice.created is replayed as it came). The worker's own identity may not publish
	// callbacks or invoice.created; replaying them is this separate identity's job, and
	// what it republishes is checked by the worker like anything else (secret_hash, the
	// status signature, the replay rules of package dlq).
	RoleDLQ Role = "dlq"
	// RoleWebhooks is the webhooks service (cmd/webhooks): it reads payments.> through
	// its durable consumer on PAYMENT_EVENTS (WebhooksDurable, no other) and uses the
	// EPAY_WEBHOOKS bucket, which holds the merchants' endpoint secrets: no other role
	// may read it.
	RoleWebhooks Role = "webhooks"
)

// Roles are every role, in a fixed order.
func Roles() []Role {
	return []Role{RoleIngest, RoleInitiator, RoleWorker, RoleSubscriber, RoleAdmin, RoleDLQ, RoleWebhooks, RoleStreams}
}

// PasswordVar is the nats-server configuration variable that holds the role's password
// ("WORKER_PASSWORD"): the generated authorization block refers to it, and the files
// that deployments make from their secrets define it.
func (r Role) PasswordVar() string { return strings.ToUpper(string(r)) + "_PASSWORD" }

// InboxPrefix is the prefix of the role's reply subjects ("_INBOX.ingest"). JetStream
// answers (PubAcks, API replies) and the messages a pull consumer hands out arrive on
// them, so each role may subscribe to its own prefix only: with "_INBOX.>" a subscriber
// could read the inbox messages the worker pulls.
func (r Role) InboxPrefix() string { return "_INBOX." + string(r) }

// The key-value buckets; the stream of bucket B is "KV_" + B. RoleStreams creates them
// all (EnsureBuckets) and owns their configuration; the services only bind to them.
const (
	// SequenceBucket holds the invoiceId sequence (invoiceid.DefaultBucket).
	SequenceBucket = "EPAY_INVOICE_SEQ"
	// IdempotencyBucket remembers the invoice each Idempotency-Key made
	// (initiator.IdempotencyBucket).
	IdempotencyBucket = "EPAY_IDEMPOTENCY"
	// ShardOwnersBucket holds each shard's owner: the worker consuming it, on a lease
	// it renews (worker's lease.go). A second worker on the same shard is refused.
	ShardOwnersBucket = "EPAY_SHARD_OWNERS"
	// WebhooksBucket holds the webhook endpoints, their signing secrets, attempt logs
	// and dead letters (webhooks.Bucket): the secret store, RoleWebhooks's only.
	WebhooksBucket = "EPAY_WEBHOOKS"
)

// StreamsAndBuckets are the JetStream streams RoleStreams makes: every stream (Streams),
// the stream of every shared bucket (Buckets) and of the worker's ShardOwnersBucket.
func StreamsAndBuckets() []string {
	out := Streams()
	for _, b := range append(Buckets(), ShardOwnersBucket) {
		out = append(out, "KV_"+b)
	}
	return out
}

// WebhooksDurable is the webhooks service's durable consumer on PAYMENT_EVENTS: only
// RoleWebhooks may use it, and RoleWebhooks may use no other.
const WebhooksDurable = "webhooks"

// ServiceDurables are the consumer names on PAYMENT_EVENTS reserved for the services:
// a merchant's subscriber may not create, read, pull from or ack one of them.
func ServiceDurables() []string { return []string{WebhooksDurable} }

// Permissions are the subjects a role may publish to and subscribe to; everything
// else is refused by the server with a permissions violation. PublishDeny carves
// subjects out of Publish: a merchant's subscriber may use any consumer on
// PAYMENT_EVENTS but the services' (a consumer's name is one subject token, so a
// namespace by prefix cannot be written as an allow list).
type Permissions struct {
	Publish     []string
	PublishDeny []string
	Subscribe   []string
}

// Permissions returns what r may do; an unknown role may do nothing.
//
// JetStream is reached through request subjects ($JS.API.<verb>.<stream>...), so the
// API verbs are granted stream by stream:
//
//   - STREAM.CREATE and STREAM.UPDATE: RoleStreams's only, on every stream and bucket
//     (StreamsAndBuckets; EnsureAll, run by `worker streams`). A role that may create or
//     change a stream may give it a RePublish, a subject transform or sources into
//     payments.>, and the server copies messages into PAYMENT_EVENTS with no permission
//     check; it may also cap a stream to one message or seal it for good. The worker and
//     the other services wait for `worker streams` to have made what they use and bind to
//     it (STREAM.INFO, a bucket's lookup).
//   - STREAM.INFO: binding, readiness checks, and the worker's DLQ gauge.
//   - CONSUMER.CREATE, CONSUMER.INFO, CONSUMER.MSG.NEXT (.<stream>.>) and
//     $JS.ACK.<stream>.>: the worker's shard consumers on EPAY_INBOX, the subscriber's
//     on PAYMENT_EVENTS. On PAYMENT_EVENTS each role has its own consumer names: the
//     webhooks only WebhooksDurable, the subscriber any but ServiceDurables (the
//     consumer's name is the token after the stream's in these subjects, acks
//     included: $JS.ACK.<stream>.<consumer>.…). Nobody may delete a consumer
//     (operators do, as admin).
//   - STREAM.MSG.GET/DELETE.EPAY_DLQ: `worker dlq` as RoleDLQ (list, show, delete after
//     replay or discard); the worker itself only publishes to the DLQ. A discard is
//     recorded first on EPAY_DLQ_DISCARDED (epay.dlq-discarded.>, created by the
//     worker, read back by `worker dlq discarded`), which only RoleDLQ may write.
//   - KV_EPAY_SHARD_OWNERS, $KV.EPAY_SHARD_OWNERS.>: the worker's shard leases.
//   - EPAY_STATE: the worker's changelog (epay.state.>), written, read by direct get
//     and by consumers it deletes after a shard's restore; no other role sees it.
//   - $JS.API.INFO, KV_EPAY_INVOICE_SEQ, KV_EPAY_IDEMPOTENCY, $KV.EPAY_INVOICE_SEQ.> and
//     $KV.EPAY_IDEMPOTENCY.>: the initiator's buckets, the invoiceId sequence and the
//     Idempotency-Keys (read and written, made by the worker). The initiator reads no
//     inbox message.
//   - The worker creates and updates the buckets of the others (their streams' info,
//     create and update only): it reads and writes no entry of theirs.
func (r Role) Permissions() Permissions {
	js := func(verb, stream string) string { return "$JS.API." + verb + "." + stream }
	// A key-value bucket: its stream's info, its entries read directly or by sequence,
	// written by publishing to $KV.<bucket>.<key>.
	bucket := func(b string, verbs ...string) []string {
		kv := "KV_" + b
		out := []string{js("STREAM.MSG.GET", kv), js("DIRECT.GET", kv), js("DIRECT.GET", kv) + ".>", "$KV." + b + ".>"}
		for _, v := range verbs {
			out = append(out, js(v, kv))
		}
		return out
	}
	switch r {
	case RoleIngest:
		return Permissions{
			Publish: []string{
				inbox.KindPattern(inbox.KindPostlink),
				js("STREAM.INFO", StreamInbox),
			},
			Subscribe: []string{r.InboxPrefix() + ".>"},
		}
	case RoleInitiator:
		pub := []string{
			inbox.KindPattern(inbox.KindInvoice),
			js("STREAM.INFO", StreamInbox),
			"$JS.API.INFO",
		}
		pub = append(pub, bucket(SequenceBucket, "STREAM.INFO")...)
		pub = append(pub, bucket(IdempotencyBucket, "STREAM.INFO")...)
		return Permissions{Publish: pub, Subscribe: []string{r.InboxPrefix() + ".>"}}
	case RoleWorker:
		var pub []string
		pub = append(pub, inbox.KindPattern(inbox.KindStatus), inbox.KindPattern(inbox.KindResolve), inbox.KindPattern(inbox.KindOperation),
			"payments.>", "epay.dlq.>", StateSubjects)
		for _, s := range []string{StreamInbox, StreamEvents, StreamDLQ, StreamState, StreamDLQDiscarded,
			"KV_" + SequenceBucket, "KV_" + IdempotencyBucket, "KV_" + WebhooksBucket} {
			pub = append(pub, js("STREAM.INFO", s))
		}
		pub = append(pub, js("CONSUMER.CREATE", StreamInbox)+".>", js("CONSUMER.INFO", StreamInbox)+".>",
			js("CONSUMER.DELETE", StreamInbox)+".>", // a shard's consumer taken over from a crashed worker
			js("CONSUMER.MSG.NEXT", StreamInbox)+".>", "$JS.ACK."+StreamInbox+".>", "$JS.API.INFO",
			// the changelog: records written (epay.state.>), read back one by one (direct
			// get of an invoice's last record) and a shard at a time (a consumer without
			// acks, deleted when the restore is done)
			js("DIRECT.GET", StreamState)+".>", js("CONSUMER.CREATE", StreamState)+".>",
			js("CONSUMER.INFO", StreamState)+".>", js("CONSUMER.DELETE", StreamState)+".>",
			js("CONSUMER.MSG.NEXT", StreamState)+".>")
		pub = append(pub, bucket(ShardOwnersBucket, "STREAM.INFO")...)
		return Permissions{Publish: pub, Subscribe: []string{r.InboxPrefix() + ".>"}}
	case RoleStreams:
		// and the info of EPAY_INBOX's consumers: a stream made before its shard count was
		// recorded is judged by its shards' consumers (checkInboxShards)
		pub := []string{"$JS.API.INFO", js("CONSUMER.INFO", StreamInbox) + ".>"}
		for _, s := range StreamsAndBuckets() {
			pub = append(pub, js("STREAM.INFO", s), js("STREAM.CREATE", s), js("STREAM.UPDATE", s))
		}
		return Permissions{Publish: pub, Subscribe: []string{r.InboxPrefix() + ".>"}}
	case RoleDLQ:
		return Permissions{
			Publish: []string{
				inbox.KindPattern(inbox.KindPostlink), inbox.KindPattern(inbox.KindInvoice), inbox.KindPattern(inbox.KindStatus),
				inbox.KindPattern(inbox.KindResolve), inbox.KindPattern(inbox.KindOperation),
				js("STREAM.INFO", StreamDLQ), js("STREAM.MSG.GET", StreamDLQ), js("STREAM.MSG.DELETE", StreamDLQ),
				DLQDiscardedSubjects, js("STREAM.INFO", StreamDLQDiscarded),
				js("STREAM.MSG.GET", StreamDLQDiscarded),
			},
			Subscribe: []string{r.InboxPrefix() + ".>"},
		}
	case RoleSubscriber:
		var deny []string
		for _, d := range ServiceDurables() {
			deny = append(deny, eventsConsumer(d)...)
		}
		return Permissions{
			Publish: []string{
				js("STREAM.INFO", StreamEvents), js("STREAM.MSG.GET", StreamEvents),
				js("CONSUMER.CREATE", StreamEvents) + ".>", js("CONSUMER.INFO", StreamEvents) + ".>",
				js("CONSUMER.MSG.NEXT", StreamEvents) + ".>", "$JS.ACK." + StreamEvents + ".>",
			},
			PublishDeny: deny,
			Subscribe:   []string{r.InboxPrefix() + ".>"},
		}
	case RoleWebhooks:
		pub := []string{
			js("STREAM.INFO", StreamEvents), "$JS.API.INFO",
			// an event read by its sequence: the head of an invoice's queue whose message
			// was settled already (webhooks' Dispatcher.repair)
			js("STREAM.MSG.GET", StreamEvents), js("DIRECT.GET", StreamEvents), js("DIRECT.GET", StreamEvents) + ".>",
			// the bucket's watch and key listings: an ordered consumer, recreated on a gap,
			// pushing to the role's inbox and answering flow control
			js("CONSUMER.CREATE", "KV_"+WebhooksBucket), js("CONSUMER.CREATE", "KV_"+WebhooksBucket) + ".>",
			js("CONSUMER.DELETE", "KV_"+WebhooksBucket) + ".>", "$JS.FC.KV_" + WebhooksBucket + ".>",
		}
		pub = append(pub, eventsConsumer(WebhooksDurable)...)
		pub = append(pub, bucket(WebhooksBucket, "STREAM.INFO")...)
		return Permissions{Publish: pub, Subscribe: []string{r.InboxPrefix() + ".>"}}
	case RoleAdmin:
		return Permissions{
			Publish: []string{
				"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*",
				"$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.INFO.*.*",
				"$JS.API.CONSUMER.DELETE.*.*",
			},
			Subscribe: []string{r.InboxPrefix() + ".>"},
		}
	}
	return Permissions{}
}

// eventsConsumer are the subjects of using the consumer name on PAYMENT_EVENTS: create
// or update it (with a filter, or none), read its info, pull from it, ack its messages.
func eventsConsumer(name string) []string {
	api := func(verb string) string { return "$JS.API." + verb + "." + StreamEvents + "." + name }
	return []string{
		api("CONSUMER.CREATE"), api("CONSUMER.CREATE") + ".>", api("CONSUMER.INFO"), api("CONSUMER.MSG.NEXT"), "$JS.ACK." + StreamEvents + "." + name + ".>",
	}
}

// Equal reports whether p and q allow and deny the same subjects, in any order.
func (p Permissions) Equal(q Permissions) bool {
	same := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	return same(p.Publish, q.Publish) && same(p.PublishDeny, q.PublishDeny) && same(p.Subscribe, q.Subscribe)
}

// AuthorizationConf is the nats-server configuration block that gives every role its
// user and permissions: "authorization { users = [...] }". password says what stands
// for a role's password: a variable reference ("$WORKER_PASSWORD", for a config that
// includes the passwords from Secrets) or a quoted literal. extra users (a test's own
// verifier, say) follow the roles with the permissions given.
func AuthorizationConf(password func(Role) string, extra ...ConfUser) string {
	var b strings.Builder
	b.WriteString("authorization {\n  timeout: 2\n  users = [\n")
	quote := func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = `"` + s + `"`
		}
		return strings.Join(q, ",\n          ")
	}
	users := make([]ConfUser, 0, len(Roles())+len(extra))
	for _, r := range Roles() {
		users = append(users, ConfUser{Name: string(r), Password: password(r), Permissions: r.Permissions()})
	}
	for _, u := range append(users, extra...) {
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: %s\n      permissions: {\n", u.Name, u.Password)
		if len(u.Permissions.PublishDeny) == 0 {
			fmt.Fprintf(&b, "        publish: {allow: [\n          %s\n        ]}\n", quote(u.Permissions.Publish))
		} else {
			fmt.Fprintf(&b, "        publish: {allow: [\n          %s\n        ], deny: [\n          %s\n        ]}\n",
				quote(u.Permissions.Publish), quote(u.Permissions.PublishDeny))
		}
		fmt.Fprintf(&b, "        subscribe: {allow: [\n          %s\n        ]}\n      }\n    }\n", quote(u.Permissions.Subscribe))
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// ConfUser is a user of AuthorizationConf that is no role.
type ConfUser struct {
	Name, Password string // Password as it stands in the config (a quoted literal or a $VARIABLE)
	Permissions    Permissions
}
