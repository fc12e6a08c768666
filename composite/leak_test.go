package composite

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/miksilo/miksilo/internal/gst"
	"github.com/miksilo/miksilo/internal/rtctest"
)

// alive is how many pipelines and added elements GStreamer has not
// finalised, after letting go-gst's finalizers run: a wrapper's finalizer
// drops its reference, which can make another wrapper's object collectable,
// so collect until the counts hold for a few rounds.
func alive() (pipelines, elements int) {
	same := 0
	for i := 0; i < 40 && same < 3; i++ {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		p, b := gst.Alive(gst.KindPipeline), gst.Alive(gst.KindElement)
		if p == pipelines && b == elements {
			same++
		} else {
			same = 0
		}
		pipelines, elements = p, b
	}
	return pipelines, elements
}

// TestReleaseFreesGStreamer (and, while it runs, the inputs' decoding
// threads at inputNice): after a Composite has run with inputs (video
// and audio, one with mix-minus), lost one input to a released HubPort while
// its media flowed and been released with its pipeline, none of its
// GStreamer elements is alive: not the pipelines (compositor, encoder, audio
// mixer) and not the removed inputs' bins. Before, every Composite and every
// input that ever joined stayed in memory (~1 MB per input, and two buses'
// socket pairs per Composite): a pad probe's Go callback, kept in go-gst's
// global table until the probe is removed, held the Composite and through it
// every wrapper, and the compositor's samples-selected closure held the
// compositor.
func TestReleaseFreesGStreamer(t *testing.T) {
	p0, b0 := alive()
	runComposite(t)
	if p, b := alive(); p > p0 || b > b0 {
		t.Errorf("after the Composite's release: %d pipelines and %d elements alive, %d and %d before: %+v", p, b, p0, b0, gst.AliveObjects())
	}
}

// newPeer is an rtctest peer the caller closes (not kept for the test's
// cleanup, which would keep its pipelines alive until the test ends).
func newPeer(t *testing.T) *rtctest.Peer {
	t.Helper()
	p, err := rtctest.NewPeer()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runComposite runs and releases a Composite with two publishers (one
// leaving early) and a viewer, and closes the peers.
func runComposite(t *testing.T) {
	e := newEnv(t)
	pipeline, comp, c := e.composite(map[string]any{"width": 320, "height": 240, "framerate": 15})
	var peers []*rtctest.Peer
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	publish := func(color uint32) string {
		ep := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipeline, "recvonly": true})
		port := e.create("HubPort", map[string]any{"hub": comp})
		e.invoke(ep, "connect", map[string]any{"sink": port})
		p := newPeer(t)
		peers = append(peers, p)
		if _, err := p.AddPublisher(rtctest.PublisherConfig{Width: 160, Height: 120, FPS: 15, Color: color, Audio: true, AudioFreq: 440}); err != nil {
			t.Fatal(err)
		}
		e.negotiate(ep, p)
		return port
	}
	portA := publish(0xff0000)
	portB := publish(0x00ff00)
	ep := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipeline, "sendonly": true})
	vport := e.create("HubPort", map[string]any{"hub": comp})
	e.invoke(vport, "connect", map[string]any{"sink": ep})
	vp := newPeer(t)
	peers = append(peers, vp)
	v, err := vp.AddViewer(rtctest.ViewerConfig{Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	e.negotiate(ep, vp)
	e.invoke(comp, "setMixMinus", map[string]any{"port": portA, "enabled": true})
	if !eventually(wait, func() bool { return testutil.ToFloat64(e.metrics.inputs) == 2 && v.Frames() > 10 }) {
		t.Fatalf("inputs %v, viewer frames %d: the Composite did not run", testutil.ToFloat64(e.metrics.inputs), v.Frames())
	}
	if n := inputThreadNice(t); len(n) == 0 {
		t.Error("no input decoding thread (p<N>_src:src) found")
	} else {
		for comm, v := range n {
			if v != inputNice {
				t.Errorf("%s runs at nice %d, want %d", comm, v, inputNice)
			}
		}
	}
	var h dto.Metric
	if err := e.metrics.intervals.Write(&h); err != nil {
		t.Fatal(err)
	}
	if n := h.GetHistogram().GetSampleCount(); n < 5 {
		t.Errorf("frame interval histogram: %d samples after %d output frames", n, c.Stats().Frames)
	}
	// The video pipeline, the audio mixer's, the peers' three, and two
	// inputs' bins and audio branches, the compositor.
	if p, b := alive(); p < 5 || b < 3 {
		t.Fatalf("while the Composite runs: %d pipelines and %d elements alive: not counted", p, b)
	}
	e.release(portB) // an input leaves while its media flows
	if !eventually(wait, func() bool { return testutil.ToFloat64(e.metrics.inputs) == 1 }) {
		t.Fatal("the released port's input did not leave")
	}
	if c.Stats().Frames == 0 {
		t.Fatal("no output")
	}
	e.release(pipeline)
}

// inputThreadNice maps this process's input decoding threads (p<N>_src:src)
// to their nice values.
func inputThreadNice(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		c, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		comm := strings.TrimSpace(string(c))
		if err != nil || !strings.HasPrefix(comm, "p") || !strings.HasSuffix(comm, "_src:src") {
			continue
		}
		st, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if n, err := strconv.Atoi(f[16]); err == nil {
			out[comm+"/"+task.Name()] = n
		}
	}
	return out
}
