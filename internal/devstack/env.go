package devstack

// env is a chain of variable overrides over the process environment.
type env struct {
	vars   map[string]string
	parent func(string) string
}

func newEnv(getenv func(string) string) env { return env{parent: getenv} }

func (e env) get(name string) string {
	if v, ok := e.vars[name]; ok {
		return v
	}
	return e.parent(name)
}

// with returns e with vars set on top.
func (e env) with(vars map[string]string) env { return env{vars: vars, parent: e.get} }
