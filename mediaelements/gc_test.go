package mediaelements

import (
	"slices"
	"testing"
)

func TestSessionGC(t *testing.T) {
	type ids map[string]string
	for _, tc := range []struct {
		name string
		// setup creates objects and references; named ids go in the map.
		setup func(e *ktEnv, m ids)
		// steps run in order; after each, alive/gone are checked.
		steps []struct {
			do          func(e *ktEnv, m ids)
			alive, gone []string
		}
	}{
		{
			name: "drop releases objects only that session references",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["e"] = e.element("A", m["p"])
				m["d"] = e.hub("A", "Dispatcher", m["p"])
				m["hp"] = e.port("A", m["d"])
				m["q"] = e.pipeline("B")
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.DropSession("A") }, []string{"q"}, []string{"p", "e", "d", "hp"}},
				{func(e *ktEnv, _ ids) { e.store.DropSession("A") }, []string{"q"}, nil}, // twice: no-op
				{func(e *ktEnv, _ ids) { e.store.DropSession("nope") }, []string{"q"}, nil},
				{func(e *ktEnv, _ ids) { e.store.DropSession("B") }, nil, []string{"q"}},
			},
		},
		{
			name: "object described by another session survives",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				if _, err := e.store.Describe(e.call("B"), m["p"]); err != nil {
					e.t.Fatal(err)
				}
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.DropSession("A") }, []string{"p"}, nil},
				{func(e *ktEnv, _ ids) { e.store.DropSession("B") }, nil, []string{"p"}},
			},
		},
		{
			name: "invoke and subscribe reference too",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["e"] = e.element("A", m["p"])
				m["q"] = e.pipeline("A")
				e.mustInvoke("B", m["e"], "getName", nil)
				e.subscribe("C", m["q"], "Error")
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.DropSession("A") }, []string{"p", "e", "q"}, nil},
				{func(e *ktEnv, _ ids) { e.store.DropSession("C") }, []string{"p", "e"}, []string{"q"}},
				{func(e *ktEnv, _ ids) { e.store.DropSession("B") }, nil, []string{"p", "e"}},
			},
		},
		{
			name: "pipeline survives while an element in it is referenced elsewhere",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["d"] = e.hub("A", "Dispatcher", m["p"])
				m["hp"] = e.port("A", m["d"])
				if _, err := e.store.Describe(e.call("B"), m["hp"]); err != nil {
					e.t.Fatal(err)
				}
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.DropSession("A") }, []string{"p", "d", "hp"}, nil},
				{func(e *ktEnv, _ ids) { e.store.DropSession("B") }, nil, []string{"p", "d", "hp"}},
			},
		},
		{
			name: "ref keeps alive, unref of the last reference releases",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["e"] = e.element("A", m["p"])
				if err := e.store.Ref(e.call("B"), m["p"]); err != nil {
					e.t.Fatal(err)
				}
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, m ids) { ktNoErr(e, e.store.Unref(e.call("A"), m["p"])) }, []string{"p", "e"}, nil},
				{func(e *ktEnv, m ids) { ktNoErr(e, e.store.Unref(e.call("A"), m["e"])) }, []string{"p"}, []string{"e"}},
				{func(e *ktEnv, m ids) { ktNoErr(e, e.store.Unref(e.call("C"), m["p"])) }, []string{"p"}, nil}, // C held nothing
				{func(e *ktEnv, m ids) { ktNoErr(e, e.store.Unref(e.call("B"), m["p"])) }, nil, []string{"p"}},
			},
		},
		{
			name: "CloseSession with release releases for everyone",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["e"] = e.element("A", m["p"])
				m["q"] = e.pipeline("B")
				if _, err := e.store.Describe(e.call("B"), m["p"]); err != nil {
					e.t.Fatal(err)
				}
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.CloseSession("A", true) }, []string{"q"}, []string{"p", "e"}},
			},
		},
		{
			name: "CloseSession without release only unrefs",
			setup: func(e *ktEnv, m ids) {
				m["p"] = e.pipeline("A")
				m["q"] = e.pipeline("A")
				if _, err := e.store.Describe(e.call("B"), m["p"]); err != nil {
					e.t.Fatal(err)
				}
			},
			steps: []struct {
				do          func(e *ktEnv, m ids)
				alive, gone []string
			}{
				{func(e *ktEnv, _ ids) { e.store.CloseSession("A", false) }, []string{"p"}, []string{"q"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKtEnv(t)
			m := ids{}
			tc.setup(e, m)
			for i, st := range tc.steps {
				st.do(e, m)
				for _, k := range st.alive {
					if !e.alive(m[k]) {
						t.Fatalf("step %d: %s released", i, k)
					}
				}
				for _, k := range st.gone {
					if e.alive(m[k]) {
						t.Fatalf("step %d: %s still alive", i, k)
					}
					_, err := e.invoke("X", m[k], "getName", nil)
					ktWantCode(t, err, CodeObjectNotFound)
				}
			}
		})
	}
}

func ktNoErr(e *ktEnv, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestSessions(t *testing.T) {
	e := newKtEnv(t)
	if e.store.HasSession("A") {
		t.Fatal("unknown session reported")
	}
	e.store.EnsureSession("A")
	e.store.EnsureSession("A")
	p := e.pipeline("B")
	if _, err := e.store.Describe(e.call("C"), p); err != nil {
		t.Fatal(err)
	}
	if got := e.store.Sessions(); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Fatalf("Sessions = %v", got)
	}
	e.store.DropSession("B")
	if e.store.HasSession("B") || !e.store.HasSession("A") || !e.alive(p) {
		t.Fatalf("after drop: sessions %v, p alive %v", e.store.Sessions(), e.alive(p))
	}
	if err := e.store.Unref(e.call("C"), "nope"); AsError(err) == nil || AsError(err).Code != CodeObjectNotFound {
		t.Fatalf("Unref unknown: %v", err)
	}
	if err := e.store.Ref(e.call("C"), "nope"); AsError(err) == nil || AsError(err).Code != CodeObjectNotFound {
		t.Fatalf("Ref unknown: %v", err)
	}
	e.store.ReleaseAll()
	if e.store.Len() != 0 || len(e.store.Pipelines()) != 0 {
		t.Fatalf("ReleaseAll left %d objects", e.store.Len())
	}
}
