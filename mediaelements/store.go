package mediaelements

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// ManagerID is the fixed id of the ServerManager.
const ManagerID = "manager_ServerManager"

// Limits bound what clients can create.
type Limits struct {
	MaxObjects           int // objects in the whole server (0: unlimited)
	MaxObjectsPerSession int // objects created by one session (0: unlimited)
}

// EventSink receives serialised onEvent params ({"value":{data,object,type}})
// for a session. Deliver must not block.
type EventSink interface {
	Deliver(sessionID string, params []byte)
}

// Options configure a Store.
type Options struct {
	Registry *Registry
	Logger   *slog.Logger
	Limits   Limits
	Metadata string           // returned by ServerManager.getMetadata
	Now      func() time.Time // for tests; time.Now by default
	// FlowTimeout is how long a pad may go without packets before it
	// reports NOT_FLOWING (default 2 s).
	FlowTimeout time.Duration
	// Transcoders, when set, converts media for sinks that cannot take
	// their source's codec (transcode.go); nil: such sinks are refused.
	Transcoders Transcoders
}

// Store is the object store: every live object, the sessions that
// reference them, event subscriptions, release cascades and session GC.
type Store struct {
	reg      *Registry
	log      *slog.Logger
	limits   Limits
	metadata string
	flowTO   time.Duration
	now      func() time.Time
	sink     atomic.Pointer[EventSink]
	manager  *ServerManager

	transcoders Transcoders

	mu        sync.Mutex
	objects   map[string]Object
	count     int // objects excluding the ServerManager
	sessions  map[string]*session
	subs      map[string]*subscription
	listeners map[string]*objectListeners
}

type session struct {
	refs  map[string]struct{}
	owned int
	subs  map[string]struct{}
}

type subscription struct {
	id, session, object, event string
}

type objectListeners struct {
	events map[string]map[string]int // event → session → subscriptions
	ids    map[string]struct{}
}

// NewStore creates a store holding just the ServerManager.
func NewStore(o Options) *Store {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = DefaultFlowTimeout
	}
	s := &Store{
		reg: o.Registry, log: o.Logger, limits: o.Limits, metadata: o.Metadata, now: o.Now, flowTO: o.FlowTimeout, transcoders: o.Transcoders,
		objects:   map[string]Object{},
		sessions:  map[string]*session{},
		subs:      map[string]*subscription{},
		listeners: map[string]*objectListeners{},
	}
	cls, ok := s.reg.Class("ServerManager")
	if !ok {
		panic("mediaelements: registry has no ServerManager")
	}
	s.manager = &ServerManager{}
	s.manager.Init(ObjectInit{ID: ManagerID, Class: cls, Store: s})
	s.objects[ManagerID] = s.manager
	return s
}

// SetEventSink sets where events go (the rpc server).
func (s *Store) SetEventSink(sink EventSink) { s.sink.Store(&sink) }

// Registry returns the type registry.
func (s *Store) Registry() *Registry { return s.reg }

// NewCall starts a request on behalf of a session.
func (s *Store) NewCall(ctx context.Context, sessionID string) *Call {
	return &Call{Ctx: ctx, Session: sessionID, store: s}
}

// EnsureSession records a session (a no-op if it exists).
func (s *Store) EnsureSession(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessionLocked(id)
}

func (s *Store) sessionLocked(id string) *session {
	ss, ok := s.sessions[id]
	if !ok {
		ss = &session{refs: map[string]struct{}{}, subs: map[string]struct{}{}}
		s.sessions[id] = ss
	}
	return ss
}

// HasSession reports whether the session is known.
func (s *Store) HasSession(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[id]
	return ok
}

// Sessions lists known session ids, sorted.
func (s *Store) Sessions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Pipelines lists every pipeline, sorted by id.
func (s *Store) Pipelines() []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Object
	for _, o := range s.objects {
		if _, ok := o.(*Pipeline); ok {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Base().id < out[j].Base().id })
	return out
}

// CountByType counts live objects by class name (ServerManager excluded).
func (s *Store) CountByType() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, o := range s.objects {
		if o != Object(s.manager) {
			out[o.Base().class.Name]++
		}
	}
	return out
}

// Len is the number of live objects, ServerManager excluded.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Get returns a live object without touching session references.
func (s *Store) Get(id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[id]
	return o, ok
}

// lookup resolves an id for a request and references it into the session.
func (s *Store) lookup(c *Call, id string) (Object, error) {
	if strings.HasPrefix(id, "newref:") {
		return nil, NewError(CodeNotFoundNoCommit, "Object '%s' not found: newref ids are only valid inside a transaction", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[id]
	if !ok {
		return nil, errNotFound(id)
	}
	s.refLocked(c.Session, o)
	return o, nil
}

func (s *Store) refLocked(sessionID string, o Object) {
	if sessionID == "" || o == Object(s.manager) {
		return
	}
	b := o.Base()
	b.sessions[sessionID] = struct{}{}
	s.sessionLocked(sessionID).refs[b.id] = struct{}{}
}

// Create builds an object of the named class (simple or qualified name).
func (s *Store) Create(c *Call, typeName string, ctorParams map[string]any) (Object, error) {
	cls, ok := s.reg.Class(typeName)
	if !ok || cls.Abstract {
		return nil, NewError(CodeNotAvailable, "Factory '%s' not found", typeName)
	}
	args, err := s.reg.convertParams(c, cls.Constructor, ctorParams)
	if err != nil {
		return nil, err
	}
	var parent Object
	var pipeline *Pipeline
	if h, ok := args.Object("hub").(Hub); ok {
		parent, pipeline = h, h.Base().pipeline
	} else if p, ok := args.Object("mediaPipeline").(*Pipeline); ok {
		parent, pipeline = p, p
	}
	owner, err := s.reserve(c.Session)
	if err != nil {
		return nil, err
	}
	id := uuid.NewString() + "_" + cls.QualifiedName()
	if parent != nil {
		id = parent.Base().id + "/" + id
	}
	in := ObjectInit{ID: id, Class: cls, Pipeline: pipeline, Parent: parent, Store: s}
	o, err := cls.New(c, in, args)
	if err != nil {
		s.unreserve(owner)
		return nil, err
	}
	b := o.Base()
	s.mu.Lock()
	if parent != nil && parent.Base().released {
		s.mu.Unlock()
		s.unreserve(owner)
		if r, ok := o.(Releaser); ok {
			r.OnRelease()
		}
		return nil, errNotFound(parent.Base().id)
	}
	s.objects[id] = o
	if parent != nil {
		parent.Base().children[id] = o
	}
	b.owner = owner
	s.refLocked(c.Session, o)
	s.mu.Unlock()
	s.log.Debug("created", "object", id, "type", cls.Name, "session", c.Session)
	s.manager.Emit("ObjectCreated", map[string]any{"object": id})
	return o, nil
}

// reserve takes one object from the server's and the session's quota and
// returns the session record charged.
func (s *Store) reserve(sessionID string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limits.MaxObjects > 0 && s.count >= s.limits.MaxObjects {
		return nil, NewError(CodeNotEnoughResources, "Too many objects in the server (limit %d)", s.limits.MaxObjects)
	}
	ss := s.sessionLocked(sessionID)
	if s.limits.MaxObjectsPerSession > 0 && ss.owned >= s.limits.MaxObjectsPerSession {
		return nil, NewError(CodeNotEnoughResources, "Too many objects in this session (limit %d)", s.limits.MaxObjectsPerSession)
	}
	s.count++
	ss.owned++
	return ss, nil
}

func (s *Store) unreserve(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count--
	ss.owned--
}

// Invocation is a resolved invoke, ready to run.
type Invocation struct {
	call   *Call
	obj    Object
	method *Method
	args   Args
}

// Blocking reports whether the method may take long.
func (inv *Invocation) Blocking() bool { return inv.method.Blocking }

// Run executes the method and returns its wire value.
func (inv *Invocation) Run() (any, error) {
	v, err := inv.method.Call(inv.call, inv.obj, inv.args)
	if err != nil {
		return nil, err
	}
	if inv.method.Return == "" {
		return nil, nil
	}
	return encodeValue(v), nil
}

// PrepareInvoke resolves the object, the operation (up the Extends chain)
// and converts the parameters.
func (s *Store) PrepareInvoke(c *Call, id, operation string, params map[string]any) (*Invocation, error) {
	o, err := s.lookup(c, id)
	if err != nil {
		return nil, err
	}
	m := o.Base().class.lookupMethod(operation)
	if m == nil {
		return nil, errMethodNotFound(operation, len(params))
	}
	args, err := s.reg.convertParams(c, m.Params, params)
	if err != nil {
		return nil, err
	}
	return &Invocation{call: c, obj: o, method: m, args: args}, nil
}

// Description is the result of describe.
type Description struct {
	Type          string   `json:"type"`
	QualifiedType string   `json:"qualifiedType"`
	Hierarchy     []string `json:"hierarchy"`
}

// Describe returns an object's type information (and references it).
func (s *Store) Describe(c *Call, id string) (Description, error) {
	o, err := s.lookup(c, id)
	if err != nil {
		return Description{}, err
	}
	cls := o.Base().class
	return Description{Type: cls.Name, QualifiedType: cls.QualifiedName(), Hierarchy: cls.Hierarchy()}, nil
}

// Subscribe registers the session for an event of an object and returns the
// subscription id. Several subscriptions of one session to the same
// (object, event) share one delivery.
func (s *Store) Subscribe(c *Call, id, event string) (string, error) {
	o, err := s.lookup(c, id)
	if err != nil {
		return "", err
	}
	if !o.Base().class.hasEvent(event) {
		return "", NewError(CodeEventNotSupported, "Event '%s' not supported", event)
	}
	sub := &subscription{id: uuid.NewString(), session: c.Session, object: id, event: event}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.Base().released {
		return "", errNotFound(id)
	}
	ol, ok := s.listeners[id]
	if !ok {
		ol = &objectListeners{events: map[string]map[string]int{}, ids: map[string]struct{}{}}
		s.listeners[id] = ol
	}
	if ol.events[event] == nil {
		ol.events[event] = map[string]int{}
	}
	ol.events[event][c.Session]++
	ol.ids[sub.id] = struct{}{}
	s.subs[sub.id] = sub
	s.sessionLocked(c.Session).subs[sub.id] = struct{}{}
	return sub.id, nil
}

// Unsubscribe removes a subscription; unknown ids are not an error.
func (s *Store) Unsubscribe(subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsubscribeLocked(subID)
}

func (s *Store) unsubscribeLocked(subID string) {
	sub, ok := s.subs[subID]
	if !ok {
		return
	}
	delete(s.subs, subID)
	if ss, ok := s.sessions[sub.session]; ok {
		delete(ss.subs, subID)
	}
	ol, ok := s.listeners[sub.object]
	if !ok {
		return
	}
	delete(ol.ids, subID)
	if n := ol.events[sub.event][sub.session] - 1; n > 0 {
		ol.events[sub.event][sub.session] = n
	} else {
		delete(ol.events[sub.event], sub.session)
	}
	if len(ol.ids) == 0 {
		delete(s.listeners, sub.object)
	}
}

// Ref adds a session reference to an object.
func (s *Store) Ref(c *Call, id string) error {
	_, err := s.lookup(c, id)
	return err
}

// Unref drops a session's reference; an object no session references (and
// none of whose descendants is referenced) is released.
func (s *Store) Unref(c *Call, id string) error {
	s.mu.Lock()
	o, ok := s.objects[id]
	if !ok {
		s.mu.Unlock()
		return errNotFound(id)
	}
	var orphans []Object
	if o != Object(s.manager) {
		delete(o.Base().sessions, c.Session)
		if ss, ok := s.sessions[c.Session]; ok {
			delete(ss.refs, id)
		}
		orphans = s.orphansLocked([]Object{o})
	}
	s.mu.Unlock()
	for _, x := range orphans {
		s.releaseObject(x)
	}
	return nil
}

// DropSession forgets a session (its socket is gone for good): its
// subscriptions end and objects left without references are released.
func (s *Store) DropSession(id string) {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, id)
	for subID := range ss.subs {
		s.unsubscribeLocked(subID)
	}
	var touched []Object
	for oid := range ss.refs {
		if o, ok := s.objects[oid]; ok {
			delete(o.Base().sessions, id)
			touched = append(touched, o)
		}
	}
	orphans := s.orphansLocked(touched)
	s.mu.Unlock()
	s.log.Info("session dropped", "session", id, "objects_released", len(orphans))
	for _, o := range orphans {
		s.releaseObject(o)
	}
}

// orphansLocked returns the topmost objects among candidates (and their
// ancestors) that no session references, directly or through a descendant.
func (s *Store) orphansLocked(candidates []Object) []Object {
	seen := map[string]bool{}
	var out []Object
	for _, c := range candidates {
		// Walk up: the highest unreferenced ancestor whose subtree is
		// unreferenced is the one to release.
		var top Object
		for x := c; x != nil; x = x.Base().parent {
			if x.Base().released || s.referencedLocked(x) {
				break
			}
			top = x
		}
		if top != nil && !seen[top.Base().id] {
			seen[top.Base().id] = true
			out = append(out, top)
		}
	}
	// Drop entries contained in another entry's subtree.
	var roots []Object
	for _, o := range out {
		inner := false
		for p := o.Base().parent; p != nil; p = p.Base().parent {
			if seen[p.Base().id] {
				inner = true
				break
			}
		}
		if !inner {
			roots = append(roots, o)
		}
	}
	return roots
}

func (s *Store) referencedLocked(o Object) bool {
	b := o.Base()
	if len(b.sessions) > 0 {
		return true
	}
	for _, ch := range b.children {
		if s.referencedLocked(ch) {
			return true
		}
	}
	return false
}

// Release releases an object and everything below it, for every session.
// Unknown or already released ids are not an error.
func (s *Store) Release(c *Call, id string) error {
	if id == ManagerID {
		return NewError(CodeOperationNotSupported, "The ServerManager cannot be released")
	}
	o, ok := s.Get(id)
	if !ok {
		return nil
	}
	s.releaseObject(o)
	return nil
}

// ReleaseObject releases an object and its subtree (used by elements that
// end themselves and by the server on shutdown).
func (s *Store) ReleaseObject(o Object) { s.releaseObject(o) }

func (s *Store) releaseObject(o Object) {
	s.mu.Lock()
	if o.Base().released {
		s.mu.Unlock()
		return
	}
	var order []Object
	var walk func(x Object)
	walk = func(x Object) {
		children := make([]Object, 0, len(x.Base().children))
		for _, ch := range x.Base().children {
			children = append(children, ch)
		}
		sort.Slice(children, func(i, j int) bool { return children[i].Base().id < children[j].Base().id })
		for _, ch := range children {
			walk(ch)
		}
		order = append(order, x)
	}
	walk(o)
	for _, x := range order {
		b := x.Base()
		b.released = true
		delete(s.objects, b.id)
		if b.parent != nil {
			delete(b.parent.Base().children, b.id)
		}
		for sid := range b.sessions {
			if ss, ok := s.sessions[sid]; ok {
				delete(ss.refs, b.id)
			}
		}
		if b.owner != nil {
			b.owner.owned-- // the record, not the id: a recycled id is a new session
		}
		s.count--
		if ol, ok := s.listeners[b.id]; ok {
			for subID := range ol.ids {
				s.unsubscribeLocked(subID)
			}
		}
	}
	s.mu.Unlock()
	for _, x := range order {
		if e, ok := x.(MediaElement); ok {
			e.Elem().detachAll()
			e.Elem().stopMedia()
		}
		if r, ok := x.(Releaser); ok {
			r.OnRelease()
		}
		s.log.Debug("released", "object", x.Base().id)
		s.manager.Emit("ObjectDestroyed", map[string]any{"objectId": x.Base().id})
	}
}

// ReleaseAll releases every pipeline (server shutdown).
func (s *Store) ReleaseAll() {
	for _, p := range s.Pipelines() {
		s.releaseObject(p)
	}
}

func (s *Store) isReleased(o Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return o.Base().released
}

func (s *Store) childrenOf(o Object) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Object, 0, len(o.Base().children))
	for _, ch := range o.Base().children {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Base().created.Before(out[j].Base().created) || (out[i].Base().created.Equal(out[j].Base().created) && out[i].Base().id < out[j].Base().id)
	})
	return out
}

// emit serialises an event once and hands it to every subscribed session.
func (s *Store) emit(b *ObjectBase, event string, fields map[string]any) {
	s.mu.Lock()
	var sessions []string
	if ol, ok := s.listeners[b.id]; ok {
		for sid := range ol.events[event] {
			sessions = append(sessions, sid)
		}
	}
	s.mu.Unlock()
	sink := s.sink.Load()
	if len(sessions) == 0 || sink == nil {
		return
	}
	data := map[string]any{
		"source":          b.id,
		"timestampMillis": strconv.FormatInt(s.now().UnixMilli(), 10),
		"tags":            b.tagsSnapshot(true),
	}
	if s.reg.isMediaEvent(event) {
		data["type"] = event
	}
	for k, v := range fields {
		data[k] = encodeValue(v)
	}
	payload, err := json.Marshal(map[string]any{"value": map[string]any{"data": data, "object": b.id, "type": event}})
	if err != nil {
		s.log.Error("event not serialisable", "event", event, "object", b.id, "err", err)
		return
	}
	slices.Sort(sessions)
	for _, sid := range sessions {
		(*sink).Deliver(sid, payload)
	}
}

// encodeValue turns Go values into wire values: objects become ids.
func encodeValue(v any) any {
	switch x := v.(type) {
	case Object:
		if x == nil {
			return nil
		}
		return x.Base().id
	case []Object:
		ids := make([]string, len(x))
		for i, o := range x {
			ids[i] = o.Base().id
		}
		return ids
	}
	return v
}

// CloseSession ends a session at the client's request: with release its
// objects are released for everyone, otherwise only its references go.
func (s *Store) CloseSession(id string, release bool) {
	if release {
		s.mu.Lock()
		var objs []Object
		if ss, ok := s.sessions[id]; ok {
			for oid := range ss.refs {
				if o, ok := s.objects[oid]; ok {
					objs = append(objs, o)
				}
			}
		}
		s.mu.Unlock()
		for _, o := range objs {
			s.releaseObject(o)
		}
	}
	s.DropSession(id)
}
