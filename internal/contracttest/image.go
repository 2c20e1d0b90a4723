package contracttest

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// ImageBinaries are the commands the Dockerfile at path builds (`./cmd/<name>`) and
// copies to /usr/local/bin: the binaries a container of the image can run.
func ImageBinaries(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	copied := regexp.MustCompile(`(?m)^COPY --from=build (.*) /usr/local/bin/$`).FindStringSubmatch(string(b))
	if copied == nil {
		return nil, fmt.Errorf("%s copies nothing to /usr/local/bin/", path)
	}
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`\./cmd/([a-z-]+)`).FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(copied[1], "/out/"+m[1]) {
			built[m[1]] = true
		}
	}
	return built, nil
}
