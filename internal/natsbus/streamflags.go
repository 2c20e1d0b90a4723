package natsbus

import "flag"

// StreamFlagEnvNames are the variables of the flags BindFlags declares, the same in every
// service that ensures a stream.
var StreamFlagEnvNames = map[string]string{
	"stream-replicas": "NATS_STREAM_REPLICAS", "duplicate-window": "NATS_DUPLICATE_WINDOW",
}

// BindFlags declares -stream-replicas and -duplicate-window on fs, defaulting to c's
// values. replicasOf says, for -h, what the replicas are of ("EPAY_INBOX", "each stream").
func (c *StreamsConfig) BindFlags(fs *flag.FlagSet, replicasOf string) {
	fs.IntVar(&c.Replicas, "stream-replicas", c.Replicas, "replicas of "+replicasOf+" (3 on a cluster)")
	fs.DurationVar(&c.DuplicateWindow, "duplicate-window", c.DuplicateWindow, "JetStream duplicate window (how long a Nats-Msg-Id is remembered)")
}

// StreamLimitFlagEnvNames are the variables of the flags BindLimitFlags declares.
var StreamLimitFlagEnvNames = map[string]string{
	"stream-max-age": "NATS_STREAM_MAX_AGE", "stream-max-bytes": "NATS_STREAM_MAX_BYTES",
}

// BindLimitFlags declares -stream-max-age and -stream-max-bytes on fs, defaulting to c's
// values: the retention of the streams, set by the service that owns them. Each stream
// reserves its max bytes of the servers' JetStream file store when it is created: three
// streams need three times -stream-max-bytes (plus the key-value buckets) within
// max_file_store, or nats-server refuses them (10047 insufficient storage).
func (c *StreamsConfig) BindLimitFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.MaxAge, "stream-max-age", c.MaxAge, "how long streams keep messages")
	fs.Int64Var(&c.MaxBytes, "stream-max-bytes", c.MaxBytes, "size bound of each stream (-1: none)")
}
