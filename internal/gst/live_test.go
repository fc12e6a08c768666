package gst

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

// collect runs the garbage collector (and with it go-gst's finalizers, which
// drop the wrappers' references) until Alive(kind) is at most want or 2 s
// passed, and returns Alive(kind).
func collect(kind Kind, want int) int {
	deadline := time.Now().Add(2 * time.Second)
	for Alive(kind) > want && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	return Alive(kind)
}

// TestClosedPipelineIsFreed: a pipeline that ran (its elements posting state
// changes and more on the bus) is finalised once closed and dropped. The bus
// handler used to keep a reference to every message, each holding its
// source: the pipeline and all its elements stayed in memory for good.
func TestClosedPipelineIsFreed(t *testing.T) {
	n0 := collect(KindPipeline, 0)
	func() {
		p, err := Parse("freed", "videotestsrc is-live=true ! fakesink", nil)
		if err != nil {
			t.Fatal(err)
		}
		if Alive(KindPipeline) != n0+1 {
			t.Fatalf("a parsed pipeline is not counted: %d alive, %d before", Alive(KindPipeline), n0)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitPlaying(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		p.Close()
	}()
	if n := collect(KindPipeline, n0); n != n0 {
		t.Fatalf("%d pipelines alive after Close, %d before: %+v", n, n0, AliveObjects())
	}
}

// TestSignalDisconnectReleases: a function connected with
// ConnectSamplesSelected runs per output frame, stops running at Disconnect,
// and is then released with what it refers to (here the aggregator, which
// is freed with its pipeline).
func TestSignalDisconnectReleases(t *testing.T) {
	e0 := collect(KindElement, 0)
	var calls atomic.Int64
	var sig *Signal
	func() {
		p, err := Parse("signal", "videotestsrc is-live=true ! compositor name=mix emit-signals=true ! fakesink", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		mix, err := p.Element("mix")
		if err != nil {
			t.Fatal(err)
		}
		Track(mix.Object, KindElement)
		sig, err = ConnectSamplesSelected(mix, func() {
			calls.Add(1)
			_ = mix.GetName() // refers to the aggregator, as the Composite's handler does
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for calls.Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if calls.Load() < 3 {
			t.Fatalf("samples-selected ran %d times", calls.Load())
		}
		sig.Disconnect()
		n := calls.Load()
		time.Sleep(200 * time.Millisecond)
		if got := calls.Load(); got != n {
			t.Fatalf("%d calls after Disconnect", got-n)
		}
		sig.Disconnect() // twice is fine
	}()
	if e := collect(KindElement, e0); e != e0 {
		t.Fatalf("the aggregator is alive after Disconnect and Close: %+v", AliveObjects())
	}
}

// TestTrackCountsUntilFinalised: Track follows an object to its
// finalisation, not to its removal from a pipeline.
func TestTrackCountsUntilFinalised(t *testing.T) {
	e0 := collect(KindElement, 0)
	func() {
		e, err := gogst.NewElement("identity")
		if err != nil {
			t.Fatal(err)
		}
		Track(e.Object, KindElement)
		if Alive(KindElement) != e0+1 {
			t.Fatalf("Alive = %d, want %d", Alive(KindElement), e0+1)
		}
		runtime.KeepAlive(e)
	}()
	if e := collect(KindElement, e0); e != e0 {
		t.Fatalf("Alive = %d after the element's last reference went, want %d", e, e0)
	}
}

// threadNice is the nice value of this process's thread named comm (-100:
// none such).
func threadNice(t *testing.T, comm string) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		c, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		st, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised comm: state is field 3, nice field 19.
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		n, err := strconv.Atoi(f[16])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return -100
}

// TestThreadNice: a streaming thread whose owner's name matches a rule runs
// at the rule's nice value from its start, others at the default.
func TestThreadNice(t *testing.T) {
	p, err := Parse("nice", "videotestsrc is-live=true name=pa_src ! fakesink  videotestsrc is-live=true name=other ! fakesink", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetThreadNice(ThreadNice{Prefix: "pa", Suffix: "_src", Nice: 7}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitPlaying(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := threadNice(t, "pa_src:src"); n != 7 {
		t.Errorf("pa_src's thread: nice %d, want 7", n)
	}
	if n := threadNice(t, "other:src"); n != 0 {
		t.Errorf("other's thread: nice %d, want 0", n)
	}
	if err := p.SetThreadNice(ThreadNice{Prefix: "x", Nice: 1}); err == nil {
		t.Error("SetThreadNice after Start succeeded")
	}
	q, _ := Parse("nice2", "fakesrc ! fakesink", nil)
	defer q.Close()
	if err := q.SetThreadNice(ThreadNice{Prefix: "x", Nice: 20}); err == nil {
		t.Error("nice 20 accepted")
	}
}
