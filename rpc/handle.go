package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/rpc/protocol"
)

// outcome is a method's result (an object that carries sessionId) or error.
type outcome struct {
	result map[string]any
	err    *jsonrpc2.Error
}

// encode serialises the response frame once; it is both written and cached.
func (o outcome) encode(id jsonrpc2.ID) []byte {
	frame := responseFrame{JSONRPC: "2.0", ID: id}
	if o.err != nil {
		frame.Error = o.err
	} else {
		frame.Result = o.result
	}
	b, err := json.Marshal(frame)
	if err != nil {
		frame.Result = nil
		frame.Error = &jsonrpc2.Error{Code: protocol.CodeInternal, Message: "Unexpected error while processing method: " + err.Error()}
		b, _ = json.Marshal(frame)
	}
	return b
}

type responseFrame struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      jsonrpc2.ID     `json:"id"`
	Result  map[string]any  `json:"result,omitempty"`
	Error   *jsonrpc2.Error `json:"error,omitempty"`
}

func (o outcome) code() int {
	if o.err != nil {
		return int(o.err.Code)
	}
	return 0
}

// protoError is a protocol-level error (-32xxx); dataType "" means no data.
type protoError struct {
	code     int
	msg      string
	dataType string
}

func (e *protoError) Error() string { return e.msg }

func toRPCError(err error) *jsonrpc2.Error {
	if e := mediaelements.AsError(err); e != nil {
		je := &jsonrpc2.Error{Code: int64(e.Code), Message: e.Message}
		je.SetError(protocol.ErrorData{Type: e.Type})
		return je
	}
	if pe, ok := err.(*protoError); ok {
		je := &jsonrpc2.Error{Code: int64(pe.code), Message: pe.msg}
		if pe.dataType != "" {
			je.SetError(protocol.ErrorData{Type: pe.dataType})
		}
		return je
	}
	return &jsonrpc2.Error{Code: protocol.CodeInternal, Message: "Unexpected error while processing method: " + err.Error()}
}

func fail(err error) outcome { return outcome{err: toRPCError(err)} }

// methods that get a fresh session when the request has none (KMS getOrCreateSessionId).
var sessionCreating = []string{protocol.MethodCreate, protocol.MethodDescribe, protocol.MethodInvoke,
	protocol.MethodSubscribe, protocol.MethodUnsubscribe, protocol.MethodRelease, protocol.MethodTransaction,
	protocol.MethodRef, protocol.MethodUnref, protocol.MethodCloseSession}

// methods whose params are required (KMS requireParams).
var paramsRequired = []string{protocol.MethodCreate, protocol.MethodDescribe, protocol.MethodInvoke,
	protocol.MethodSubscribe, protocol.MethodUnsubscribe, protocol.MethodRelease, protocol.MethodTransaction,
	protocol.MethodRef, protocol.MethodUnref, protocol.MethodKeepAlive, protocol.MethodCloseSession}

// methods never answered from the duplicate-request cache: harmless to
// repeat, and closeSession must not leave an entry of the closed session.
var uncached = []string{protocol.MethodPing, protocol.MethodConnect, protocol.MethodCloseSession}

// handle answers one request from the socket's queue.
func (s *Server) handle(c *conn, req *jsonrpc2.Request) {
	start := time.Now()
	method := req.Method
	params, perr := decodeParams(req.Params)
	if req.Notif {
		// KMS executes notifications and then answers, having no id to
		// use, with an error carrying id null.
		if perr == nil {
			if sid := s.sessionID(c, method, params); sid != "" {
				params["sessionId"] = sid
			}
			s.exec(c.srv.ctx, c, method, params, false)
		}
		_ = c.stream.writeRaw(errorFrame(nil, protocol.CodeServerError, "Ignoring response because of a notification request"))
		s.metrics.observe(method, protocol.CodeServerError, time.Since(start))
		c.done()
		return
	}
	if perr == nil && req.Params == nil && c.session() == "" && slices.Contains(paramsRequired, method) {
		// With a session bound, KMS injects sessionId and so creates params.
		perr = &protoError{code: protocol.CodeInvalidParams, msg: "'params' is required", dataType: "INVALID_PARAMS"}
	}
	if perr != nil {
		s.finish(c, req, "", "", fail(perr), start)
		return
	}
	sid := s.sessionID(c, method, params)
	if sid != "" {
		params["sessionId"] = sid
	}
	key := ""
	if sid != "" && s.set.cacheTTL > 0 && !slices.Contains(uncached, method) {
		key = requestKey(req)
		if cached, ok := s.cache.get(sid, key); ok {
			s.metrics.cacheHits.Inc()
			s.metrics.observe(method, cached.code, time.Since(start))
			c.writeResponse(req, cached.resp)
			c.done()
			return
		}
	}
	out, async := s.exec(s.ctx, c, method, params, true)
	if async != nil {
		c.goAsync(func() { s.finish(c, req, sid, key, async(), start) })
		return
	}
	s.finish(c, req, sid, key, out, start)
}

// finish binds the session, caches, records metrics and replies.
func (s *Server) finish(c *conn, req *jsonrpc2.Request, sid, cacheKey string, out outcome, start time.Time) {
	if out.err == nil {
		if rsid, ok := out.result["sessionId"].(string); ok && rsid != "" && req.Method != protocol.MethodPing && req.Method != protocol.MethodCloseSession {
			s.bind(rsid, c)
		}
	}
	resp := out.encode(req.ID)
	if cacheKey != "" {
		s.cache.put(sid, cacheKey, resp, out.code())
	}
	s.metrics.observe(req.Method, out.code(), time.Since(start))
	if out.err != nil {
		c.log.Debug("request failed", "method", req.Method, "id", req.ID.String(), "code", out.err.Code, "message", out.err.Message)
	}
	c.writeResponse(req, resp)
	c.done()
}

// sessionID applies KMS's rules: the request's own sessionId, else the
// socket's, else (for methods that need one) a new one.
func (s *Server) sessionID(c *conn, method string, params map[string]any) string {
	if sid, ok := params["sessionId"].(string); ok && sid != "" {
		return sid
	}
	if sid := c.session(); sid != "" {
		return sid
	}
	if slices.Contains(sessionCreating, method) {
		return uuid.NewString()
	}
	return ""
}

func decodeParams(raw *json.RawMessage) (map[string]any, error) {
	params := map[string]any{}
	if raw == nil || bytes.Equal(bytes.TrimSpace(*raw), []byte("null")) {
		return params, nil
	}
	dec := json.NewDecoder(bytes.NewReader(*raw))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, &protoError{code: protocol.CodeInvalidParams, msg: "'params' should be an object", dataType: "INVALID_PARAMS"}
	}
	return params, nil
}

func stringParam(params map[string]any, name string) (string, error) {
	v, ok := params[name]
	if !ok {
		return "", &protoError{code: protocol.CodeServerError, msg: fmt.Sprintf("'%s' parameter is required", name)}
	}
	str, ok := v.(string)
	if !ok {
		return "", &protoError{code: protocol.CodeServerError, msg: fmt.Sprintf("'%s' parameter should be a string", name)}
	}
	return str, nil
}

func objectParam(params map[string]any, name string) (map[string]any, error) {
	v, ok := params[name]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, mediaelements.NewError(mediaelements.CodeMarshall, "'%s' parameter should be an object", name)
	}
	return m, nil
}

// exec runs one method. When allowAsync and the method blocks, it returns a
// function to run off the socket's queue instead of an outcome.
func (s *Server) exec(ctx context.Context, c *conn, method string, params map[string]any, allowAsync bool) (outcome, func() outcome) {
	sid, _ := params["sessionId"].(string)
	ok := func(r map[string]any) outcome {
		if r == nil {
			r = map[string]any{}
		}
		if sid != "" {
			r["sessionId"] = sid
		}
		return outcome{result: r}
	}
	call := s.store.NewCall(ctx, sid)
	if sid != "" && method != protocol.MethodPing && method != protocol.MethodConnect && method != protocol.MethodKeepAlive {
		s.store.EnsureSession(sid)
	}
	switch method {
	case protocol.MethodPing:
		return ok(map[string]any{"value": "pong"}), nil

	case protocol.MethodConnect:
		req, has := params["sessionId"].(string)
		if has && req != "" {
			if !s.store.HasSession(req) {
				return fail(mediaelements.NewError(mediaelements.CodeInvalidSession, "Invalid session")), nil
			}
			return outcome{result: map[string]any{"sessionId": req, "serverId": s.serverID}}, nil
		}
		nsid := uuid.NewString()
		s.store.EnsureSession(nsid)
		return outcome{result: map[string]any{"sessionId": nsid, "serverId": s.serverID}}, nil

	case protocol.MethodKeepAlive:
		if sid == "" || !s.store.HasSession(sid) {
			return fail(mediaelements.NewError(mediaelements.CodeInvalidSession, "Invalid session")), nil
		}
		return ok(nil), nil

	case protocol.MethodCreate:
		typ, err := stringParam(params, "type")
		if err != nil {
			return fail(&protoError{code: protocol.CodeServerError, msg: "'type' parameter is required"}), nil
		}
		ctor, err := objectParam(params, "constructorParams")
		if err != nil {
			return fail(err), nil
		}
		o, err := s.store.Create(call, typ, ctor)
		if err != nil {
			return fail(err), nil
		}
		return ok(map[string]any{"value": o.Base().ID()}), nil

	case protocol.MethodDescribe:
		id, err := stringParam(params, "object")
		if err != nil {
			return fail(err), nil
		}
		d, err := s.store.Describe(call, id)
		if err != nil {
			return fail(err), nil
		}
		return ok(map[string]any{"type": d.Type, "qualifiedType": d.QualifiedType, "hierarchy": d.Hierarchy}), nil

	case protocol.MethodInvoke:
		id, err := stringParam(params, "object")
		if err != nil {
			return fail(err), nil
		}
		op, err := stringParam(params, "operation")
		if err != nil {
			return fail(err), nil
		}
		opParams, err := objectParam(params, "operationParams")
		if err != nil {
			return fail(err), nil
		}
		inv, err := s.store.PrepareInvoke(call, id, op, opParams)
		if err != nil {
			return fail(err), nil
		}
		run := func() outcome {
			v, err := inv.Run()
			if err != nil {
				return fail(err)
			}
			return ok(map[string]any{"value": v})
		}
		if allowAsync && inv.Blocking() {
			return outcome{}, run
		}
		return run(), nil

	case protocol.MethodSubscribe:
		id, err := stringParam(params, "object")
		if err != nil {
			return fail(err), nil
		}
		typ, err := stringParam(params, "type")
		if err != nil {
			return fail(err), nil
		}
		subID, err := s.store.Subscribe(call, id, typ)
		if err != nil {
			return fail(err), nil
		}
		return ok(map[string]any{"value": subID}), nil

	case protocol.MethodUnsubscribe:
		subID, err := stringParam(params, "subscription")
		if err != nil {
			return fail(err), nil
		}
		s.store.Unsubscribe(subID)
		return ok(nil), nil

	case protocol.MethodRelease:
		id, err := stringParam(params, "object")
		if err != nil {
			return fail(err), nil
		}
		if err := s.store.Release(call, id); err != nil {
			return fail(err), nil
		}
		return ok(nil), nil

	case protocol.MethodRef, protocol.MethodUnref:
		id, err := stringParam(params, "object")
		if err != nil {
			return fail(err), nil
		}
		if method == protocol.MethodRef {
			err = s.store.Ref(call, id)
		} else {
			err = s.store.Unref(call, id)
		}
		if err != nil {
			return fail(err), nil
		}
		return ok(nil), nil

	case protocol.MethodCloseSession:
		release, _ := params["release"].(bool)
		s.store.CloseSession(sid, release)
		s.cache.dropSession(sid)
		s.unbind(sid)
		return ok(nil), nil

	case protocol.MethodTransaction:
		return s.transaction(ctx, c, sid, params), nil
	}
	return outcome{err: &jsonrpc2.Error{Code: protocol.CodeMethodNotFound, Message: "Method not found."}}, nil
}

// transaction runs operations in order, replacing "newref:N" with the value
// of operation N's result, and stops at the first failing operation; the
// transaction itself succeeds with every executed operation's response.
func (s *Server) transaction(ctx context.Context, c *conn, sid string, params map[string]any) outcome {
	raw, ok := params["operations"].([]any)
	if !ok {
		return fail(&protoError{code: protocol.CodeServerError, msg: "'operations' parameter should be an array"})
	}
	responses := make([]map[string]any, 0, len(raw))
	results := make([]outcome, 0, len(raw))
	for i, r := range raw {
		op, ok := r.(map[string]any)
		if !ok {
			return fail(mediaelements.NewError(mediaelements.CodeMalformedTransaction, "Operation %d is not an object", i))
		}
		if id, _ := op["id"].(json.Number); id.String() != strconv.Itoa(i) {
			return fail(mediaelements.NewError(mediaelements.CodeMalformedTransaction, "Id of request '%d' should be '%d'", i, i))
		}
		method, _ := op["method"].(string)
		if method == protocol.MethodTransaction {
			return fail(mediaelements.NewError(mediaelements.CodeMalformedTransaction, "Transactions cannot be nested"))
		}
		opParams, _ := op["params"].(map[string]any)
		if opParams == nil {
			opParams = map[string]any{}
		}
		resolved, err := resolveNewrefs(opParams, results)
		if err != nil {
			return fail(err)
		}
		opParams = resolved.(map[string]any)
		if _, has := opParams["sessionId"]; !has && sid != "" {
			opParams["sessionId"] = sid
		}
		out, _ := s.exec(ctx, c, method, opParams, false)
		s.metrics.observe(method, out.code(), -1)
		results = append(results, out)
		entry := map[string]any{"jsonrpc": "2.0", "id": i}
		if out.err != nil {
			entry["error"] = out.err
			responses = append(responses, entry)
			break
		}
		entry["result"] = out.result
		responses = append(responses, entry)
	}
	res := map[string]any{"value": responses}
	if sid != "" {
		res["sessionId"] = sid
	}
	return outcome{result: res}
}

// resolveNewrefs replaces "newref:N" strings at any depth.
func resolveNewrefs(v any, results []outcome) (any, error) {
	switch x := v.(type) {
	case string:
		ref, ok := strings.CutPrefix(x, "newref:")
		if !ok {
			return x, nil
		}
		n, err := strconv.Atoi(ref)
		if err != nil || n < 0 || n >= len(results) {
			return nil, mediaelements.NewError(mediaelements.CodeMalformedTransaction, "Invalid index of newref '%s'", ref)
		}
		val, ok := results[n].result["value"].(string)
		if results[n].err != nil || !ok {
			return nil, mediaelements.NewError(mediaelements.CodeMalformedTransaction, "Result not found on request %d", n)
		}
		return val, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := resolveNewrefs(e, results)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveNewrefs(e, results)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// requestKey identifies a retransmission: same session, id, method and
// params. KMS keys on (session, id) only, which answers a different request
// from a new client instance that reattached to the session and restarted
// its ids with a stale response.
func requestKey(req *jsonrpc2.Request) string {
	h := sha256.New()
	h.Write([]byte(req.Method))
	h.Write([]byte{0})
	if req.Params != nil {
		h.Write(*req.Params)
	}
	return req.ID.String() + "\x00" + string(h.Sum(nil))
}

func codeLabel(code int) string { return strconv.Itoa(code) }

func sprintf(format string, v ...any) string { return fmt.Sprintf(format, v...) }
