package cli_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
)

func ExampleStatus() {
	errConfig := errors.New("demo config")
	code := cli.Status(os.Stdout, "demo", fmt.Errorf("%w: -shards 0: want 1 to 64", errConfig), errConfig)
	fmt.Println("exit", code)
	// Output:
	// demo: demo config: -shards 0: want 1 to 64
	// exit 2
}
