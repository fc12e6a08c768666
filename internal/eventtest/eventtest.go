// Package eventtest records the events an object store delivers
// (mediaelements.EventSink) so element tests can wait for them with
// deadlines instead of sleeping.
package eventtest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// Event is one onEvent delivery, decoded.
type Event struct {
	Object string
	Type   string
	Data   map[string]any
}

// Recorder is an EventSink that keeps every event and runs hooks on them
// (synchronously, on the delivering goroutine: hooks must not block).
type Recorder struct {
	mu     sync.Mutex
	got    []Event
	notify chan struct{}
	hooks  map[string]func(Event) // by object id + "/" + type
}

// New returns an empty Recorder.
func New() *Recorder {
	return &Recorder{notify: make(chan struct{}), hooks: map[string]func(Event){}}
}

// Deliver implements mediaelements.EventSink.
func (r *Recorder) Deliver(_ string, params []byte) {
	var p struct {
		Value struct {
			Data   map[string]any `json:"data"`
			Object string         `json:"object"`
			Type   string         `json:"type"`
		} `json:"value"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		panic(err) // the store sent something that is not an onEvent value
	}
	ev := Event{Object: p.Value.Object, Type: p.Value.Type, Data: p.Value.Data}
	r.mu.Lock()
	r.got = append(r.got, ev)
	close(r.notify)
	r.notify = make(chan struct{})
	hook := r.hooks[ev.Object+"/"+ev.Type]
	r.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
}

// Hook runs fn on every later event of that object and type.
func (r *Recorder) Hook(obj, typ string, fn func(Event)) {
	r.mu.Lock()
	r.hooks[obj+"/"+typ] = fn
	r.mu.Unlock()
}

// Await returns the first event matching, or fails the test at the deadline.
func (r *Recorder) Await(t testing.TB, d time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	ev, _ := r.AwaitFrom(t, 0, d, what, match)
	return ev
}

// AwaitFrom returns the first event from index from on (see Mark) that
// matches, with its index, or fails the test at the deadline.
func (r *Recorder) AwaitFrom(t testing.TB, from int, d time.Duration, what string, match func(Event) bool) (Event, int) {
	t.Helper()
	deadline := time.After(d)
	for i := from; ; {
		r.mu.Lock()
		for ; i < len(r.got); i++ {
			if match(r.got[i]) {
				ev := r.got[i]
				r.mu.Unlock()
				return ev, i
			}
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
			return Event{}, 0
		}
	}
}

// Mark is the index the next event will have.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Events lists the events of one object and type so far.
func (r *Recorder) Events(obj, typ string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.got {
		if e.Object == obj && e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// Is matches events of obj and typ whose data holds the given string
// key/value pairs.
func Is(obj, typ string, kv ...string) func(Event) bool {
	return func(e Event) bool {
		if e.Object != obj || e.Type != typ {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if v, _ := e.Data[kv[i]].(string); v != kv[i+1] {
				return false
			}
		}
		return true
	}
}
