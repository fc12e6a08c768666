package mediaelements

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The type registry: Go values that describe every remote class, complex type
// and event. create, invoke, property get/set, subscribe, describe,
// ServerManager.getKmd and docs/api.md are all driven from it.

// Access says how a property can be used over the wire.
type Access int

const (
	// ReadWrite properties have get<Name> and set<Name>.
	ReadWrite Access = iota
	// ReadOnly properties have only get<Name> (state computed by the server).
	ReadOnly
	// Final properties have only get<Name> (fixed at construction).
	Final
)

// Param describes a constructor or method parameter, or a field of a
// complex type or event. Type is a kmd type expression: String, boolean,
// int, int64, float, double, a complex type or remote class name, T[] or T<>.
type Param struct {
	Name     string
	Type     string
	Optional bool
	Default  any // applied when Optional and absent; nil means "absent"
	Doc      string
}

// Property is a remote class property, read with get<Name> and written with
// set<Name>{"<name>": value}.
type Property struct {
	Name   string
	Type   string
	Access Access
	Doc    string
	Get    func(c *Call, o Object) (any, error)
	Set    func(c *Call, o Object, v any) error
}

// Method is a remote class method.
type Method struct {
	Name   string
	Params []Param
	Return string // kmd type of the return value; "" for void (result.value null)
	Doc    string
	// Blocking marks a method that may take long (it waits on time or I/O);
	// the rpc layer runs it without holding up the connection's other requests.
	Blocking bool
	Call     func(c *Call, o Object, a Args) (any, error)
}

// Class describes a remote class.
type Class struct {
	Name     string
	Module   string // kmd module: core, elements, filters
	Extends  string // "" only for MediaObject
	Abstract bool
	// Extension marks a class or members that are Miksilo additions to the
	// Kurento API; they are listed as such in docs/api.md.
	Extension   bool
	Doc         string
	Constructor []Param
	// New builds the object; the store has already resolved and validated
	// the constructor arguments, assigned the id and placed it in the tree.
	New        func(c *Call, b ObjectInit, a Args) (Object, error)
	Properties []Property
	Methods    []Method
	Events     []string
	// Types and EventTypes are complex types and events this class brings
	// into the registry (an element package declares its own).
	Types      []*ComplexType
	EventTypes []*EventType

	parent  *Class
	methods map[string]*Method // own methods plus property accessors
}

// QualifiedName is the name with its module prefix, e.g. kurento.PassThrough.
func (c *Class) QualifiedName() string { return "kurento." + c.Name }

// Parent is the class this one extends, nil for MediaObject.
func (c *Class) Parent() *Class { return c.parent }

// Hierarchy lists qualified ancestor names, nearest first, as describe returns them.
func (c *Class) Hierarchy() []string {
	h := []string{}
	for p := c.parent; p != nil; p = p.parent {
		h = append(h, p.QualifiedName())
	}
	return h
}

// Is reports whether c is name or descends from it.
func (c *Class) Is(name string) bool {
	for k := c; k != nil; k = k.parent {
		if k.Name == name {
			return true
		}
	}
	return false
}

// lookupMethod finds a method on the class or up its Extends chain.
func (c *Class) lookupMethod(name string) *Method {
	for k := c; k != nil; k = k.parent {
		if m, ok := k.methods[name]; ok {
			return m
		}
	}
	return nil
}

// hasEvent reports whether the class or an ancestor declares the event.
func (c *Class) hasEvent(name string) bool {
	for k := c; k != nil; k = k.parent {
		if slices.Contains(k.Events, name) {
			return true
		}
	}
	return false
}

// TypeFormat tells enums from structured complex types.
type TypeFormat int

const (
	// Enum values travel as strings.
	Enum TypeFormat = iota
	// Register types travel as objects with __module__ and __type__.
	Register
)

// ComplexType is a kmd complex type.
type ComplexType struct {
	Name    string
	Module  string
	Format  TypeFormat
	Extends string
	Values  []string // Enum
	Fields  []Param  // Register; Optional marks optional fields
	Doc     string
}

// EventType is a kmd event.
type EventType struct {
	Name    string
	Module  string
	Extends string
	Fields  []Param
	Doc     string
}

// Registry holds every class, complex type and event the server knows.
type Registry struct {
	classes map[string]*Class
	complex map[string]*ComplexType
	events  map[string]*EventType
	order   []*Class
}

// NewRegistry builds a registry from the core declarations plus the given
// classes (one per element package). It panics on an inconsistent
// declaration: that is a programming error caught by any test that builds it.
func NewRegistry(extra ...*Class) *Registry {
	r := &Registry{
		classes: map[string]*Class{},
		complex: map[string]*ComplexType{},
		events:  map[string]*EventType{},
	}
	for _, t := range coreComplexTypes() {
		r.complex[t.Name] = t
	}
	for _, e := range coreEvents() {
		r.events[e.Name] = e
	}
	all := append(coreClasses(), extra...)
	for _, c := range all {
		if _, dup := r.classes[c.Name]; dup {
			panic("mediaelements: class declared twice: " + c.Name)
		}
		r.classes[c.Name] = c
		r.order = append(r.order, c)
		for _, t := range c.Types {
			if old, dup := r.complex[t.Name]; dup && old != t {
				panic("mediaelements: complex type declared twice: " + t.Name)
			}
			r.complex[t.Name] = t
		}
		for _, e := range c.EventTypes {
			if old, dup := r.events[e.Name]; dup && old != e {
				panic("mediaelements: event declared twice: " + e.Name)
			}
			r.events[e.Name] = e
		}
	}
	for _, c := range all {
		if c.Extends != "" {
			p, ok := r.classes[c.Extends]
			if !ok {
				panic(fmt.Sprintf("mediaelements: %s extends unknown %s", c.Name, c.Extends))
			}
			c.parent = p
		}
		if !c.Abstract && c.New == nil {
			panic("mediaelements: concrete class without New: " + c.Name)
		}
		c.methods = map[string]*Method{}
		for i := range c.Methods {
			m := &c.Methods[i]
			c.methods[m.Name] = m
		}
		for i := range c.Properties {
			p := &c.Properties[i]
			c.methods["get"+upperFirst(p.Name)] = &Method{Name: "get" + upperFirst(p.Name), Return: p.Type, Doc: p.Doc,
				Call: func(call *Call, o Object, _ Args) (any, error) { return p.Get(call, o) }}
			if p.Access == ReadWrite {
				c.methods["set"+upperFirst(p.Name)] = &Method{Name: "set" + upperFirst(p.Name), Doc: p.Doc,
					Params: []Param{{Name: p.Name, Type: p.Type}},
					Call: func(call *Call, o Object, a Args) (any, error) {
						return nil, p.Set(call, o, a[p.Name])
					}}
			}
		}
	}
	for _, c := range all {
		for _, ev := range c.Events {
			if _, ok := r.events[ev]; !ok {
				panic(fmt.Sprintf("mediaelements: %s declares unknown event %s", c.Name, ev))
			}
		}
		check := func(where string, ps []Param) {
			for _, p := range ps {
				if !r.knownType(p.Type) {
					panic(fmt.Sprintf("mediaelements: %s: %s has unknown type %s", where, p.Name, p.Type))
				}
			}
		}
		check(c.Name+" constructor", c.Constructor)
		for _, p := range c.Properties {
			check(c.Name+" property", []Param{{Name: p.Name, Type: p.Type}})
		}
		for _, m := range c.Methods {
			check(c.Name+"."+m.Name, m.Params)
		}
	}
	return r
}

func (r *Registry) knownType(t string) bool {
	t = strings.TrimSuffix(strings.TrimSuffix(t, "[]"), "<>")
	switch t {
	case "String", "boolean", "int", "int64", "float", "double":
		return true
	}
	if _, ok := r.complex[t]; ok {
		return true
	}
	_, ok := r.classes[t]
	return ok
}

// Class finds a class by simple (PassThrough) or qualified (kurento.PassThrough) name.
func (r *Registry) Class(name string) (*Class, bool) {
	c, ok := r.classes[strings.TrimPrefix(name, "kurento.")]
	return c, ok
}

// Classes lists every class in declaration order.
func (r *Registry) Classes() []*Class { return slices.Clone(r.order) }

// ComplexTypes lists complex types sorted by name.
func (r *Registry) ComplexTypes() []*ComplexType {
	out := make([]*ComplexType, 0, len(r.complex))
	for _, t := range r.complex {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Events lists event types sorted by name.
func (r *Registry) Events() []*EventType {
	out := make([]*EventType, 0, len(r.events))
	for _, e := range r.events {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Modules are the kmd module names, in the order getInfo lists them.
var Modules = []string{"core", "elements", "filters"}

// Factories lists the creatable classes of a module, sorted.
func (r *Registry) Factories(module string) []string {
	out := []string{}
	for _, c := range r.order {
		if c.Module == module && !c.Abstract {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

// isMediaEvent reports whether the event extends Media (its data carries "type").
func (r *Registry) isMediaEvent(name string) bool {
	for e := r.events[name]; e != nil; e = r.events[e.Extends] {
		if e.Name == "Media" {
			return true
		}
	}
	return false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
