package dlq

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// Usage is the synopsis of `worker dlq`.
const Usage = `usage: worker dlq [-nats-url URL] [-nats-user dlq] list [-limit N]
       worker dlq [-nats-url URL] [-nats-user dlq] show <seq>
       worker dlq [-nats-url URL] [-nats-user dlq] replay <seq> | replay -all
       worker dlq [-nats-url URL] [-nats-user dlq] discard <seq> -reason TEXT -by NAME
       worker dlq [-nats-url URL] [-nats-user dlq] discarded [-limit N]
(connects as the NATS user dlq: DLQ_NATS_USER, DLQ_NATS_PASSWORD or DLQ_NATS_PASSWORD_FILE
when set, else NATS_USER, NATS_PASSWORD or NATS_PASSWORD_FILE; NATS_CA as for the worker.
discard keeps the entry, who and why on EPAY_DLQ_DISCARDED before it deletes it; the worker
creates that stream at its start, and discard refuses to run before it has)`

// Run runs `worker dlq ...` (args after "dlq"), writing results to out. A usage
// error wraps ErrUsage.
func Run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	getenv = identity(getenv)
	fs := flag.NewFlagSet("worker dlq", flag.ContinueOnError)
	fs.SetOutput(out)
	url := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	var auth natsbus.Auth
	auth.BindFlags(fs)
	err := envflag.Parse(fs, args, getenv, envflag.Merge(natsbus.AuthFlagEnvNames, map[string]string{"nats-url": "NATS_URL"}))
	if errors.Is(err, flag.ErrHelp) || err == nil && fs.Arg(0) == "help" { // -h, or help as the verb
		if err == nil {
			fs.Usage()
		}
		fmt.Fprintln(out, Usage)
		return flag.ErrHelp
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: %s", ErrUsage, Usage)
	}
	// The dlq identity: it may read and delete DLQ entries and republish them to the
	// inbox; a login NATS refuses is reported on out.
	nc, err := natsbus.ConnectAs(*url, "epayflow-worker-dlq", natsbus.RoleDLQ, auth,
		slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if fs.Arg(0) == "discard" {
		// `worker streams` makes EPAY_DLQ_DISCARDED (the dlq user may not create a stream: with
		// that it could give one a RePublish into payments.>).
		if err := natsbus.BindStreams(ctx, js, natsbus.StreamDLQDiscarded); err != nil {
			return err
		}
	}
	return command(ctx, New(js), fs.Args(), out)
}

// identity is getenv with DLQ_NATS_USER, DLQ_NATS_PASSWORD and DLQ_NATS_PASSWORD_FILE
// in place of NATS_USER, NATS_PASSWORD and NATS_PASSWORD_FILE when DLQ_NATS_USER is set:
// in a worker's pod, `worker dlq` then connects as dlq, not as the worker.
func identity(getenv func(string) string) func(string) string {
	return natsbus.IdentityEnv(getenv, "DLQ_")
}

func command(ctx context.Context, d *Queue, args []string, out io.Writer) error {
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("worker dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	limit := fs.Int("limit", 100, "list at most this many entries")
	all := fs.Bool("all", false, "replay every entry")
	reason := fs.String("reason", "", "discard: why the entry is discarded (kept with it)")
	by := fs.String("by", "", "discard: who discards it (kept with it)")
	if err := parseInterspersed(fs, rest); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	switch {
	case cmd == "discard" && fs.NArg() == 1:
		seq, err := parseSeq(fs.Arg(0))
		if err != nil {
			return err
		}
		rec, err := d.Discard(ctx, seq, Discard{Reason: *reason, By: *by})
		if errors.Is(err, ErrDiscardUnexplained) {
			return fmt.Errorf("%w: %v (-reason TEXT -by NAME)", ErrUsage, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "discarded DLQ %d (%s, msg-id %s) by %s: %s; kept on %s\n",
			seq, rec.Entry.Subject, rec.Entry.MsgID, rec.By, rec.Reason, natsbus.StreamDLQDiscarded)
		return nil
	case cmd == "discarded" && fs.NArg() == 0:
		recs, err := d.Discarded(ctx, *limit)
		if err != nil {
			return err
		}
		printDiscarded(out, recs)
		return nil
	case cmd == "list" && fs.NArg() == 0:
		entries, err := d.List(ctx, *limit)
		if err != nil {
			return err
		}
		printList(out, entries)
		return nil
	case cmd == "show" && fs.NArg() == 1:
		seq, err := parseSeq(fs.Arg(0))
		if err != nil {
			return err
		}
		e, err := d.Show(ctx, seq)
		if err != nil {
			return err
		}
		printEntry(out, e)
		return nil
	case cmd == "replay" && *all && fs.NArg() == 0:
		n, err := d.ReplayAll(ctx)
		fmt.Fprintf(out, "replayed %d message(s)\n", n)
		return err
	case cmd == "replay" && !*all && fs.NArg() == 1:
		seq, err := parseSeq(fs.Arg(0))
		if err != nil {
			return err
		}
		id, err := d.Replay(ctx, seq)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "replayed DLQ %d as %s\n", seq, id)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUsage, Usage)
}

// parseInterspersed parses args with flags before, between or after the positional
// arguments (discard 42 -reason "..." as well as discard -reason "..." 42), keeping the
// positional ones, in order, as fs.Args().
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: %q is not a DLQ sequence number", ErrUsage, s)
	}
	return seq, nil
}

func printList(out io.Writer, entries []Entry) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSUBJECT\tMSG-ID\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Subject, e.MsgID, e.Reason)
	}
	tw.Flush()
	if len(entries) == 0 {
		fmt.Fprintln(out, "(the DLQ is empty)")
	}
}

func printDiscarded(out io.Writer, recs []Discarded) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DISCARDED-AT\tBY\tDLQ-SEQ\tSUBJECT\tMSG-ID\tWHY")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.By, r.Entry.Seq, r.Entry.Subject, r.Entry.MsgID, r.Reason)
	}
	tw.Flush()
	if len(recs) == 0 {
		fmt.Fprintln(out, "(nothing discarded)")
	}
}

func printEntry(out io.Writer, e Entry) {
	fmt.Fprintf(out, "seq:     %d\ntime:    %s\nsubject: %s\nmsg-id:  %s\nreason:  %s\nheaders:\n",
		e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Subject, e.MsgID, e.Reason)
	keys := make([]string, 0, len(e.Header))
	for k := range e.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %s: %s\n", k, e.Header.Get(k))
	}
	fmt.Fprintf(out, "body:\n%s\n", e.Data)
}

// ErrUsage is wrapped by every usage error of the command (exit status 2).
var ErrUsage = errors.New("worker dlq usage")

// IsUsageError reports whether err is a usage error (exit status 2).
func IsUsageError(err error) bool { return errors.Is(err, ErrUsage) || errors.Is(err, flag.ErrHelp) }
