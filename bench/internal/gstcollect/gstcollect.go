// Package gstcollect runs a GStreamer pipeline that ends (an encoder fed a
// fixed number of pictures or samples) and collects what its appsink gets:
// how bench/'s load generators encode their clips in-process.
package gstcollect

import (
	"fmt"
	"sync"
	"time"

	gogst "github.com/go-gst/go-gst/gst"

	"github.com/miksilo/miksilo/internal/gst"
)

// Run is a started pipeline whose appsink's samples are being collected.
type Run struct {
	p    *gst.Pipeline
	sink *gst.AppSink

	mu     sync.Mutex
	out    [][]byte
	failed error
	done   chan struct{}
	once   sync.Once
}

// Start starts p (which the caller closes) and collects the samples of its
// appsink sink until the stream ends or the pipeline fails.
func Start(p *gst.Pipeline, sink *gogst.Element) (*Run, error) {
	r := &Run{p: p, done: make(chan struct{})}
	p.OnError(func(m gst.Message) {
		r.mu.Lock()
		if r.failed == nil {
			r.failed = m
		}
		r.mu.Unlock()
		r.once.Do(func() { close(r.done) })
	})
	p.OnEOS(func() { r.once.Do(func() { close(r.done) }) })
	if err := p.Start(); err != nil {
		return nil, err
	}
	s, err := gst.RunAppSink(sink, func(s gst.Sample) {
		r.mu.Lock()
		r.out = append(r.out, s.Data)
		r.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	r.sink = s
	return r, nil
}

// Stop stops collecting (Wait does it too); safe to call more than once.
func (r *Run) Stop() { r.sink.Stop() }

// Wait waits up to limit for the end of the stream, then up to 5 s more for
// at least want samples (the appsink's goroutine may lag behind the EOS),
// stops collecting and returns the samples, or the pipeline's error.
func (r *Run) Wait(limit time.Duration, want int) ([][]byte, error) {
	defer r.Stop()
	select {
	case <-r.done:
	case <-time.After(limit):
		return nil, fmt.Errorf("the pipeline did not finish within %v", limit)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n, err := len(r.out), r.failed
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out, nil
}
