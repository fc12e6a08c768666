package mediaelements

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Object is any remote object. Concrete types embed ObjectBase (usually
// through Element or HubBase) and so satisfy it.
type Object interface {
	Base() *ObjectBase
}

// Releaser is implemented by objects that hold resources beyond the object
// model (media, goroutines). OnRelease runs once, after the object has left
// the store and its connections are gone; it must not block for long.
type Releaser interface {
	OnRelease()
}

// ObjectInit is what the store hands to Class.New: identity and place in the tree.
type ObjectInit struct {
	ID       string
	Class    *Class
	Pipeline *Pipeline // nil for the pipeline itself (set to itself) and the ServerManager
	Parent   Object
	Store    *Store
}

// Call carries the context of one request through the registry.
type Call struct {
	Ctx     context.Context
	Session string
	store   *Store
}

// Store is the store the call runs against.
func (c *Call) Store() *Store { return c.store }

// Tag is a key/value pair attached to an object.
type Tag struct {
	Key, Value string
}

// ObjectBase holds what every MediaObject has.
type ObjectBase struct {
	id       string
	class    *Class
	pipeline *Pipeline
	parent   Object
	store    *Store
	logOnce  sync.Once
	log      *slog.Logger // built on first use: most objects never log
	created  time.Time

	// Guarded by store.mu.
	children map[string]Object
	sessions map[string]struct{} // sessions holding a reference
	owner    *session            // session that created it (quota refund)
	released bool

	mu       sync.Mutex // guards the fields below
	name     string
	tags     []Tag
	sendTags bool
}

// Init fills the base from the store's ObjectInit. Class.New calls it first.
func (b *ObjectBase) Init(in ObjectInit) {
	b.id, b.class, b.pipeline, b.parent, b.store = in.ID, in.Class, in.Pipeline, in.Parent, in.Store
	b.created = in.Store.now()
	b.name = in.ID
	b.children = map[string]Object{}
	b.sessions = map[string]struct{}{}
}

// Base returns the base itself; it makes *ObjectBase an Object.
func (b *ObjectBase) Base() *ObjectBase { return b }

// ID is the Kurento object id.
func (b *ObjectBase) ID() string { return b.id }

// Class is the object's registry class.
func (b *ObjectBase) Class() *Class { return b.class }

// Pipeline is the pipeline the object belongs to (itself for a pipeline).
func (b *ObjectBase) Pipeline() *Pipeline { return b.pipeline }

// Parent is the parent object (nil for pipelines and the ServerManager).
func (b *ObjectBase) Parent() Object { return b.parent }

// Logger is the object's logger, carrying its id.
func (b *ObjectBase) Logger() *slog.Logger {
	b.logOnce.Do(func() { b.log = b.store.log.With("object", b.id) })
	return b.log
}

// locked runs fn with the object's own fields locked.
func (b *ObjectBase) locked(fn func(b *ObjectBase)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b)
}

// Name is the object's name (its id unless set).
func (b *ObjectBase) Name() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.name
}

// Emit raises an event on this object. fields are the event's own fields;
// Object values in them are sent as ids. It never blocks on a client.
func (b *ObjectBase) Emit(event string, fields map[string]any) {
	b.store.emit(b, event, fields)
}

// EmitError raises the Error event with a Kurento error kind (e.g.
// STREAM_ERROR_FAILED), a numeric code and a description.
func (b *ObjectBase) EmitError(kind string, code int, description string) {
	b.Logger().Warn("error event", "kind", kind, "code", code, "description", description)
	b.Emit("Error", map[string]any{"type": kind, "errorCode": code, "description": description})
}

func (b *ObjectBase) tagsSnapshot(onlyIfSending bool) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []map[string]any{}
	if onlyIfSending && !b.sendTags {
		return out
	}
	for _, t := range b.tags {
		out = append(out, map[string]any{"__module__": "kurento", "__type__": "Tag", "key": t.Key, "value": t.Value})
	}
	return out
}

func (b *ObjectBase) setTag(key, value string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.tags {
		if b.tags[i].Key == key {
			b.tags[i].Value = value
			return
		}
	}
	b.tags = append(b.tags, Tag{key, value})
}

func (b *ObjectBase) removeTag(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.tags {
		if b.tags[i].Key == key {
			b.tags = append(b.tags[:i], b.tags[i+1:]...)
			return
		}
	}
}

func (b *ObjectBase) tag(key string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Do adapts a method body written for a concrete type to the registry's
// signature. The registry only calls a method on instances of its class, so
// the assertion cannot fail for a correctly declared class.
func Do[T Object](fn func(c *Call, o T, a Args) (any, error)) func(*Call, Object, Args) (any, error) {
	return func(c *Call, o Object, a Args) (any, error) {
		t, ok := o.(T)
		if !ok {
			return nil, NewError(CodeUnexpected, "object %s is not of the expected type", o.Base().id)
		}
		return fn(c, t, a)
	}
}

// Get adapts a typed property getter.
func Get[T Object](fn func(o T) any) func(*Call, Object) (any, error) {
	return func(_ *Call, o Object) (any, error) {
		t, ok := o.(T)
		if !ok {
			return nil, NewError(CodeUnexpected, "object %s is not of the expected type", o.Base().id)
		}
		return fn(t), nil
	}
}

// Set adapts a typed property setter; v has been converted to the property's type.
func Set[T Object, V any](fn func(o T, v V) error) func(*Call, Object, any) error {
	return func(_ *Call, o Object, v any) error {
		t, ok := o.(T)
		if !ok {
			return NewError(CodeUnexpected, "object %s is not of the expected type", o.Base().id)
		}
		val, ok := v.(V)
		if !ok {
			return NewError(CodeMarshall, "invalid property value")
		}
		return fn(t, val)
	}
}
