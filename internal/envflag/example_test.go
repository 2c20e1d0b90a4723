package envflag_test

import (
	"errors"
	"flag"
	"fmt"

	"github.com/epayflow/epayflow/internal/envflag"
)

func ExampleParseCommand() {
	errConfig := errors.New("demo config")
	env := map[string]string{"DEMO_ADDR": ":9000", "DEMO_SHARDS": "4"}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "listen address")
	shards := fs.Int("shards", 8, "number of shards")
	names := map[string]string{"addr": "DEMO_ADDR", "shards": "DEMO_SHARDS"}

	err := envflag.ParseCommand(fs, []string{"-shards", "2"}, func(k string) string { return env[k] }, names, errConfig)
	fmt.Println(*addr, *shards, err)

	err = envflag.ParseCommand(fs, []string{"serve"}, func(string) string { return "" }, names, errConfig)
	fmt.Println(err)
	// Output:
	// :9000 2 <nil>
	// demo config: unexpected argument "serve" (demo -h lists the flags)
}
