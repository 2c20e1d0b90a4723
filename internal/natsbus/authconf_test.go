package natsbus_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// The generated authorization block has every role with its password variable and
// quoted permissions, then the extra users, however many.
func TestAuthorizationConfNamesEveryRoleAndEachExtraUser(t *testing.T) {
	var extra []natsbus.ConfUser
	for i := range 9 { // more extra users than roles
		extra = append(extra, natsbus.ConfUser{Name: "verifier" + strconv.Itoa(i), Password: `"pw` + strconv.Itoa(i) + `"`,
			Permissions: natsbus.Permissions{Publish: []string{"test." + strconv.Itoa(i)}, Subscribe: []string{"_INBOX.>"}}})
	}
	conf := natsbus.AuthorizationConf(func(r natsbus.Role) string { return "$" + r.PasswordVar() }, extra...)
	if !strings.HasPrefix(conf, "authorization {\n") || !strings.HasSuffix(conf, "  ]\n}\n") {
		t.Fatalf("not one authorization block:\n%s", conf)
	}
	for _, r := range natsbus.Roles() {
		want := "user: " + string(r) + "\n      password: $" + strings.ToUpper(string(r)) + "_PASSWORD\n"
		if !strings.Contains(conf, want) {
			t.Errorf("role %s: no %q in\n%s", r, want, conf)
		}
		for _, s := range r.Permissions().Publish {
			if !strings.Contains(conf, `"`+s+`"`) {
				t.Errorf("role %s: publish %s not quoted in the block", r, s)
			}
		}
	}
	for i, u := range extra {
		want := fmt.Sprintf("user: %s\n      password: %s\n", u.Name, u.Password)
		if !strings.Contains(conf, want) || !strings.Contains(conf, `"test.`+strconv.Itoa(i)+`"`) {
			t.Errorf("extra user %s missing or without its permission", u.Name)
		}
	}
}
