package eventtest

import (
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	r := New()
	hooked := make(chan Event, 1)
	r.Hook("A", "X", func(e Event) { hooked <- e })
	go func() {
		time.Sleep(10 * time.Millisecond)
		r.Deliver("S", []byte(`{"value":{"object":"B","type":"Y","data":{"state":"ON"}}}`))
		r.Deliver("S", []byte(`{"value":{"object":"A","type":"X","data":{"state":"OFF"}}}`))
	}()
	ev := r.Await(t, 5*time.Second, "A/X", Is("A", "X", "state", "OFF"))
	if ev.Object != "A" || ev.Data["state"] != "OFF" {
		t.Fatalf("got %+v", ev)
	}
	if (<-hooked).Type != "X" {
		t.Fatal("hook not run")
	}
	if _, i := r.AwaitFrom(t, 0, time.Second, "B/Y", Is("B", "Y", "state", "ON")); i != 0 {
		t.Fatalf("index %d, want 0", i)
	}
	if r.Mark() != 2 || len(r.Events("A", "X")) != 1 || Is("A", "X", "state", "ON")(ev) {
		t.Fatal("Mark, Events or Is wrong")
	}
}
