package gstcollect

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/internal/gst"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, desc string) *Run {
	t.Helper()
	p, err := gst.Parse("collect", desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	els, err := p.Elements("sink")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(p, els[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCollectsUntilTheEnd(t *testing.T) {
	r := start(t, "audiotestsrc num-buffers=7 samplesperbuffer=480 ! appsink name=sink sync=false")
	out, err := r.Wait(10*time.Second, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 7 || len(out[0]) != 480*2 {
		t.Fatalf("%d samples, the first %d bytes", len(out), len(out[0]))
	}
}

func TestPipelineError(t *testing.T) {
	// A decoder fed buffers without caps fails while streaming (not negotiated).
	r := start(t, "fakesrc num-buffers=7 sizetype=fixed sizemax=100 filltype=random ! vp8dec ! appsink name=sink sync=false")
	if _, err := r.Wait(10*time.Second, 7); err == nil {
		t.Fatal("no error from a pipeline that fails")
	}
}

func TestNoEnd(t *testing.T) {
	r := start(t, "audiotestsrc is-live=true ! appsink name=sink sync=false")
	if _, err := r.Wait(200*time.Millisecond, 1); err == nil {
		t.Fatal("a stream without end did not time out")
	}
	r.Stop() // again: fine
}
