package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The five steps of one cycle, in order.
const (
	stepCreatePipeline = iota
	stepCreateA
	stepCreateB
	stepConnect
	stepRelease
	numSteps
)

var stepNames = [numSteps]string{"create MediaPipeline", "create PassThrough", "create PassThrough", "invoke connect", "release"}

// cycle is one create → create → create → connect → release sequence. Ids are kept as the raw JSON
// string tokens the server sent (quotes included), so they are embedded in requests verbatim.
type cycle struct {
	step    int // next step to send
	pipe    []byte
	a, b    []byte
	done    bool
	started bool // at least one op sent (open loop bookkeeping)
}

func (c *cycle) reset() { *c = cycle{} }

// appendRequest appends the request for the cycle's next step; session is a raw JSON string token or
// nil before the session is known.
func appendRequest(buf []byte, id uint64, c *cycle, session []byte) []byte {
	buf = append(buf, `{"jsonrpc":"2.0","id":`...)
	buf = strconv.AppendUint(buf, id, 10)
	switch c.step {
	case stepCreatePipeline:
		buf = append(buf, `,"method":"create","params":{"type":"MediaPipeline","properties":{}`...)
	case stepCreateA, stepCreateB:
		buf = append(buf, `,"method":"create","params":{"type":"PassThrough","constructorParams":{"mediaPipeline":`...)
		buf = append(buf, c.pipe...)
		buf = append(buf, `},"properties":{}`...)
	case stepConnect:
		buf = append(buf, `,"method":"invoke","params":{"object":`...)
		buf = append(buf, c.a...)
		buf = append(buf, `,"operation":"connect","operationParams":{"sink":`...)
		buf = append(buf, c.b...)
		buf = append(buf, '}')
	case stepRelease:
		buf = append(buf, `,"method":"release","params":{"object":`...)
		buf = append(buf, c.pipe...)
	}
	if session != nil {
		buf = append(buf, `,"sessionId":`...)
		buf = append(buf, session...)
	}
	return append(buf, "}}"...)
}

// wireResponse is the part of a server message the generator looks at.
type wireResponse struct {
	ID     *uint64         `json:"id"`
	Method string          `json:"method"`
	Result *wireResult     `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type wireResult struct {
	Value     json.RawMessage `json:"value"`
	SessionID json.RawMessage `json:"sessionId"`
}

func (r *wireResponse) isError() bool {
	return len(r.Error) > 0 && !bytes.Equal(r.Error, []byte("null"))
}

var errNoResult = errors.New("response has neither result nor error")

// apply records the answer to step of c and advances c. It returns a non-nil error when the response
// is a JSON-RPC error or (strict) does not have the expected shape; the cycle then skips to release
// (or ends when there is nothing to release).
func (c *cycle) apply(step int, r *wireResponse, strict bool, session []byte) error {
	err := checkResponse(c, step, r, strict, session)
	if err != nil {
		switch {
		case step == stepCreatePipeline || step == stepRelease || c.pipe == nil:
			c.done = true
		default:
			c.step = stepRelease
		}
		return err
	}
	switch step {
	case stepCreatePipeline:
		c.pipe = clone(r.Result.Value)
	case stepCreateA:
		c.a = clone(r.Result.Value)
	case stepCreateB:
		c.b = clone(r.Result.Value)
	case stepRelease:
		c.done = true
		return nil
	}
	c.step = step + 1
	return nil
}

func checkResponse(c *cycle, step int, r *wireResponse, strict bool, session []byte) error {
	if r.isError() {
		return fmt.Errorf("error response")
	}
	if r.Result == nil {
		return errNoResult
	}
	v := r.Result.Value
	switch step {
	case stepCreatePipeline, stepCreateA, stepCreateB:
		if len(v) < 2 || v[0] != '"' {
			return fmt.Errorf("result.value is not an id string")
		}
	}
	if !strict {
		return nil
	}
	if len(r.Result.SessionID) < 3 || r.Result.SessionID[0] != '"' {
		return fmt.Errorf("result.sessionId missing")
	}
	if session != nil && !bytes.Equal(r.Result.SessionID, session) {
		return fmt.Errorf("result.sessionId %s differs from the connection's session %s", r.Result.SessionID, session)
	}
	switch step {
	case stepCreatePipeline:
		if !bytes.HasSuffix(v, []byte(`_kurento.MediaPipeline"`)) {
			return fmt.Errorf("pipeline id %s does not end in _kurento.MediaPipeline", v)
		}
	case stepCreateA, stepCreateB:
		prefix := append(c.pipe[:len(c.pipe)-1:len(c.pipe)-1], '/')
		if !bytes.HasPrefix(v, prefix) || !bytes.HasSuffix(v, []byte(`_kurento.PassThrough"`)) {
			return fmt.Errorf("element id %s is not <pipeline>/<uuid>_kurento.PassThrough", v)
		}
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// msgReader reads whole WebSocket messages into a reused buffer.
type msgReader struct {
	ws  *websocket.Conn
	buf bytes.Buffer
}

func (m *msgReader) next() ([]byte, error) {
	_, r, err := m.ws.NextReader()
	if err != nil {
		return nil, err
	}
	m.buf.Reset()
	if _, err := m.buf.ReadFrom(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return m.buf.Bytes(), nil
}

// errorLog prints the first few failures with the request that caused them.
type errorLog struct {
	w     io.Writer
	limit int

	mu    sync.Mutex
	shown int
}

func (l *errorLog) report(why string, req, resp []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown >= l.limit {
		return
	}
	l.shown++
	fmt.Fprintf(l.w, "cpload: %s\n  request:  %s\n  response: %s\n", why, req, resp)
}

// stats is owned by one goroutine during a run and merged afterwards.
type stats struct {
	lat        []int64 // ns, recorded ops only
	ops        int64   // recorded ops (answered inside the measured window)
	cycles     int64   // recorded cycles (release answered inside the window)
	errors     int64   // every error or malformed answer, warm-up and drain included
	unanswered int64   // recorded ops with no answer by the end of the drain
	sent       int64   // open loop: ops scheduled inside the window
	maxLag     time.Duration
}

func (s *stats) merge(o *stats) {
	s.lat = append(s.lat, o.lat...)
	s.ops += o.ops
	s.cycles += o.cycles
	s.errors += o.errors
	s.unanswered += o.unanswered
	s.sent += o.sent
	s.maxLag = max(s.maxLag, o.maxLag)
}
