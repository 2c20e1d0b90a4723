package natsembed

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/natsbus"
)

func roleOf(name string) natsbus.Role { return natsbus.Role(name) }

func TestValidateUsers(t *testing.T) {
	for name, users := range map[string][]User{
		"no password": {{Name: "a"}},
		"no name":     {{Password: "p"}},
		"twice":       {{Name: "a", Password: "p"}, {Name: "a", Password: "q"}},
	} {
		c := Config{Dir: t.TempDir(), Users: users}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, users)
		}
	}
}

// A user with no subjects may do nothing (an empty allow list would allow everything).
func TestUserWithoutSubjectsMayDoNothing(t *testing.T) {
	s, err := Start(Config{Dir: t.TempDir(), Port: -1, Users: []User{{Name: "nobody", Password: "pw-0123456789"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if _, err := nats.Connect(s.ClientURL()); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous: %v", err)
	}
	errs := make(chan error, 1)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("nobody", "pw-0123456789"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("anything", nil)
	nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish allowed")
	}
}

func TestRoleUsersHaveDistinctRandomPasswords(t *testing.T) {
	a, authA := RoleUsers()
	_, authB := RoleUsers()
	seen := map[string]bool{}
	for _, u := range a {
		if len(u.Password) < 32 || seen[u.Password] || authA[roleOf(u.Name)].Password != u.Password || authB[roleOf(u.Name)].Password == u.Password {
			t.Errorf("user %s: password not long, random and its own", u.Name)
		}
		seen[u.Password] = true
		if len(u.Publish) == 0 || len(u.Subscribe) == 0 {
			t.Errorf("user %s has no permissions", u.Name)
		}
	}
}
