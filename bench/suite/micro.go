package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// microBenchmarks are the Go benchmarks the report lists: the decoder, secret_hash,
// the ingest handler without network, the worker's decode, the state machine and the
// store apply. The ingest's in-process HTTP benchmarks are left to the harness, which
// measures the same thing with the services in their own processes.
const microBenchmarks = `^Benchmark(DecodeCallback|Verify|Sign|HandlerDecisions|Decode.*|StateMachine.*|Apply.*)$`

var microPackages = []string{"./internal/epay", "./internal/ingest", "./internal/worker", "./internal/invoice", "./internal/bolt"}

func (s *suite) micro(ctx context.Context) error {
	args := append([]string{"test", "-run", "^$", "-bench", microBenchmarks, "-benchmem", "-benchtime", s.sz.microTime, "-count", "1"}, microPackages...)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s.res.Micro = parseBench(out)
	s.res.MicroCommand = "go " + strings.Join(args, " ")
	return nil
}

// parseBench reads `go test -bench` output.
func parseBench(out []byte) []MicroRow {
	var rows []MicroRow
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/epayflow/epayflow/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		r := MicroRow{Package: pkg, Name: f[0]}
		if i := strings.LastIndexByte(r.Name, '-'); i > 0 {
			r.Name = r.Name[:i]
		}
		var extra []string
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsOp = v
			default:
				extra = append(extra, f[i]+" "+f[i+1])
			}
		}
		r.Extra = strings.Join(extra, ", ")
		rows = append(rows, r)
	}
	return rows
}
