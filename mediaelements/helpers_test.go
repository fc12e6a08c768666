package mediaelements

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ktRegistry builds the registry the brief describes, plus extra classes.
func ktRegistry(extra ...*Class) *Registry {
	return NewRegistry(append([]*Class{PassThroughClass(), DispatcherClass(), DispatcherOneToManyClass(), ktGraphNodeClass()}, extra...)...)
}

// ktGraphNodeClass is a test element that does not forward its input to its
// output, so graph tests may connect it in loops (a PassThrough refuses).
// Its module is not one getInfo lists.
func ktGraphNodeClass() *Class {
	return &Class{
		Name: "GraphNode", Module: "test", Extends: "MediaElement",
		Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline"}},
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			n := &PassThrough{} // same shape, no Forward
			n.InitElement(in)
			return n, nil
		},
	}
}

// ktNow is the fixed clock of the test stores.
var ktNow = time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// ktDelivery is one event handed to the sink, decoded.
type ktDelivery struct {
	Session string
	Object  string
	Type    string
	Data    map[string]any
	Raw     []byte
}

// ktSink is a recording EventSink.
type ktSink struct {
	mu  sync.Mutex
	got []ktDelivery
	bad []string // payloads that were not valid onEvent params
}

func (s *ktSink) Deliver(sessionID string, params []byte) {
	var p struct {
		Value struct {
			Data   map[string]any `json:"data"`
			Object string         `json:"object"`
			Type   string         `json:"type"`
		} `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.UseNumber()
	err := dec.Decode(&p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bad = append(s.bad, string(params))
		return
	}
	s.got = append(s.got, ktDelivery{Session: sessionID, Object: p.Value.Object, Type: p.Value.Type,
		Data: p.Value.Data, Raw: slices.Clone(params)})
}

// take returns and forgets what was delivered so far.
func (s *ktSink) take() []ktDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got
	s.got = nil
	return out
}

func (s *ktSink) badPayloads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bad)
}

// ktOfType keeps the deliveries of one event type.
func ktOfType(ds []ktDelivery, typ string) []ktDelivery {
	var out []ktDelivery
	for _, d := range ds {
		if d.Type == typ {
			out = append(out, d)
		}
	}
	return out
}

// ktEnv is a store with a recording sink and a fixed clock.
type ktEnv struct {
	t     testing.TB
	reg   *Registry
	store *Store
	sink  *ktSink
}

func newKtEnv(t testing.TB, mod ...func(*Options)) *ktEnv {
	t.Helper()
	return newKtEnvWith(t, ktRegistry(), mod...)
}

func newKtEnvWith(t testing.TB, reg *Registry, mod ...func(*Options)) *ktEnv {
	t.Helper()
	o := Options{Registry: reg, Now: func() time.Time { return ktNow }}
	for _, f := range mod {
		f(&o)
	}
	e := &ktEnv{t: t, reg: reg, store: NewStore(o), sink: &ktSink{}}
	e.store.SetEventSink(e.sink)
	t.Cleanup(func() {
		if bad := e.sink.badPayloads(); len(bad) > 0 {
			t.Errorf("sink got undecodable payloads: %q", bad)
		}
	})
	return e
}

func (e *ktEnv) call(session string) *Call { return e.store.NewCall(context.Background(), session) }

func (e *ktEnv) tryCreate(session, typ string, ctor map[string]any) (string, error) {
	o, err := e.store.Create(e.call(session), typ, ctor)
	if err != nil {
		return "", err
	}
	return o.Base().ID(), nil
}

func (e *ktEnv) create(session, typ string, ctor map[string]any) string {
	e.t.Helper()
	id, err := e.tryCreate(session, typ, ctor)
	if err != nil {
		e.t.Fatalf("create %s %v: %v", typ, ctor, err)
	}
	return id
}

func (e *ktEnv) pipeline(session string) string {
	e.t.Helper()
	return e.create(session, "MediaPipeline", nil)
}

func (e *ktEnv) element(session, pipe string) string {
	e.t.Helper()
	return e.create(session, "GraphNode", map[string]any{"mediaPipeline": pipe})
}

func (e *ktEnv) hub(session, typ, pipe string) string {
	e.t.Helper()
	return e.create(session, typ, map[string]any{"mediaPipeline": pipe})
}

func (e *ktEnv) port(session, hub string) string {
	e.t.Helper()
	return e.create(session, "HubPort", map[string]any{"hub": hub})
}

func (e *ktEnv) invoke(session, id, op string, params map[string]any) (any, error) {
	inv, err := e.store.PrepareInvoke(e.call(session), id, op, params)
	if err != nil {
		return nil, err
	}
	return inv.Run()
}

func (e *ktEnv) mustInvoke(session, id, op string, params map[string]any) any {
	e.t.Helper()
	v, err := e.invoke(session, id, op, params)
	if err != nil {
		e.t.Fatalf("invoke %s.%s(%v): %v", id, op, params, err)
	}
	return v
}

func (e *ktEnv) subscribe(session, id, event string) string {
	e.t.Helper()
	sub, err := e.store.Subscribe(e.call(session), id, event)
	if err != nil {
		e.t.Fatalf("subscribe %s %s: %v", id, event, err)
	}
	return sub
}

func (e *ktEnv) obj(id string) Object {
	e.t.Helper()
	o, ok := e.store.Get(id)
	if !ok {
		e.t.Fatalf("object %s not in store", id)
	}
	return o
}

func (e *ktEnv) elem(id string) *Element {
	e.t.Helper()
	m, ok := e.obj(id).(MediaElement)
	if !ok {
		e.t.Fatalf("%s is not a MediaElement", id)
	}
	return m.Elem()
}

func (e *ktEnv) alive(id string) bool {
	_, ok := e.store.Get(id)
	return ok
}

// ktWantCode checks that err is a domain *Error with the given code and
// returns it.
func ktWantCode(t testing.TB, err error, code int) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d", code)
	}
	de := AsError(err)
	if de == nil {
		t.Fatalf("error %v (%T) is not a *Error, want code %d", err, err, code)
	}
	if de.Code != code {
		t.Fatalf("error code %d (%v), want %d", de.Code, de, code)
	}
	if want := codeTypes[code]; want != "" && de.Type != want {
		t.Fatalf("error type %q, want %q", de.Type, want)
	}
	return de
}

// ktDecode decodes JSON the way the rpc layer does (UseNumber).
func ktDecode(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

// ktSubst replaces "$NAME" strings (at any depth) by ids[NAME].
func ktSubst(v any, ids map[string]string) any {
	switch x := v.(type) {
	case string:
		if id, ok := ids[strings.TrimPrefix(x, "$")]; ok && strings.HasPrefix(x, "$") {
			return id
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ktSubst(e, ids)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = ktSubst(e, ids)
		}
		return out
	}
	return v
}

// ktWire round-trips a value through encoding/json, as the rpc layer sends it.
func ktWire(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("value %#v is not serialisable: %v", v, err)
	}
	return ktDecode(t, string(b))
}

// ktStrings turns a wire []any of strings into []string.
func ktStrings(t testing.TB, v any) []string {
	t.Helper()
	w := ktWire(t, v)
	list, ok := w.([]any)
	if !ok {
		t.Fatalf("value %#v is not an array", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("element %d of %#v is not a string", i, v)
		}
		out[i] = s
	}
	return out
}
