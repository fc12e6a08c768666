package mediaelements

import (
	"encoding/json"
	"math"
	"strings"
)

// Args are the parameters of a create or invoke after the registry has
// checked and converted them: String → string, boolean → bool, int → int,
// int64 → int64, float/double → float64, enums → string, Register complex
// types → map[string]any (markers removed), remote classes → Object,
// T[] → []any, T<> → map[string]any. Optional params that were absent and
// have no default are absent.
type Args map[string]any

// Has reports whether the param is present.
func (a Args) Has(name string) bool { _, ok := a[name]; return ok }

// String returns a String param ("" when absent).
func (a Args) String(name string) string { s, _ := a[name].(string); return s }

// Bool returns a boolean param (false when absent).
func (a Args) Bool(name string) bool { b, _ := a[name].(bool); return b }

// Int returns an int param (0 when absent).
func (a Args) Int(name string) int { i, _ := a[name].(int); return i }

// Int64 returns an int64 param (0 when absent).
func (a Args) Int64(name string) int64 { i, _ := a[name].(int64); return i }

// Float returns a float or double param (0 when absent).
func (a Args) Float(name string) float64 { f, _ := a[name].(float64); return f }

// Object returns a remote-object param (nil when absent).
func (a Args) Object(name string) Object { o, _ := a[name].(Object); return o }

// Map returns a complex-type or map param (nil when absent).
func (a Args) Map(name string) map[string]any { m, _ := a[name].(map[string]any); return m }

// convertParams validates raw JSON-decoded params against the declared list.
// Unknown keys are ignored, as KMS does.
func (r *Registry) convertParams(c *Call, decl []Param, raw map[string]any) (Args, error) {
	out := make(Args, len(decl))
	for _, p := range decl {
		v, ok := raw[p.Name]
		if !ok || v == nil {
			if !p.Optional {
				return nil, errMarshal(p.Name, p.Type)
			}
			if p.Default != nil {
				out[p.Name] = p.Default
			}
			continue
		}
		cv, err := r.convert(c, p.Name, p.Type, v)
		if err != nil {
			return nil, err
		}
		out[p.Name] = cv
	}
	return out, nil
}

// convert checks one value against a kmd type expression.
func (r *Registry) convert(c *Call, name, typ string, v any) (any, error) {
	if elem, ok := strings.CutSuffix(typ, "[]"); ok {
		list, ok := v.([]any)
		if !ok {
			return nil, errMarshal(name, typ)
		}
		out := make([]any, len(list))
		for i, e := range list {
			ce, err := r.convert(c, name, elem, e)
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	}
	if elem, ok := strings.CutSuffix(typ, "<>"); ok {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errMarshal(name, typ)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			ce, err := r.convert(c, name, elem, e)
			if err != nil {
				return nil, err
			}
			out[k] = ce
		}
		return out, nil
	}
	switch typ {
	case "String":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "int":
		if i, ok := toInt64(v); ok && i >= math.MinInt32 && i <= math.MaxInt32 {
			return int(i), nil
		}
	case "int64":
		if i, ok := toInt64(v); ok {
			return i, nil
		}
	case "float", "double":
		if f, ok := toFloat(v); ok {
			return f, nil
		}
	default:
		if ct, ok := r.complex[typ]; ok {
			return r.convertComplex(c, name, ct, v)
		}
		if cls, ok := r.classes[typ]; ok {
			id, isStr := v.(string)
			if !isStr {
				break
			}
			o, err := c.store.lookup(c, id)
			if err != nil {
				return nil, err
			}
			if !o.Base().class.Is(cls.Name) {
				return nil, errMarshal(name, typ)
			}
			return o, nil
		}
	}
	return nil, errMarshal(name, typ)
}

func (r *Registry) convertComplex(c *Call, name string, ct *ComplexType, v any) (any, error) {
	if ct.Format == Enum {
		s, ok := v.(string)
		if !ok {
			return nil, errMarshal(name, ct.Name)
		}
		for _, val := range ct.Values {
			if val == s {
				return s, nil
			}
		}
		return nil, NewError(CodeMarshall, "'%s' parameter should be a %s: invalid value '%s'", name, ct.Name, s)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errMarshal(name, ct.Name)
	}
	if t, ok := m["__type__"].(string); ok && t != ct.Name {
		if _, known := r.complex[t]; !known {
			return nil, NewError(CodeUnexpected, "Unknown complex type '%s'", t)
		}
	}
	out := map[string]any{}
	for _, f := range r.fields(ct) {
		fv, ok := m[f.Name]
		if !ok || fv == nil {
			if !f.Optional {
				return nil, errMarshal(name+"."+f.Name, f.Type)
			}
			continue
		}
		cv, err := r.convert(c, name+"."+f.Name, f.Type, fv)
		if err != nil {
			return nil, err
		}
		out[f.Name] = cv
	}
	return out, nil
}

// fields lists a Register type's fields including inherited ones.
func (r *Registry) fields(ct *ComplexType) []Param {
	var chain []*ComplexType
	for t := ct; t != nil; t = r.complex[t.Extends] {
		chain = append(chain, t)
	}
	var out []Param
	for i := len(chain) - 1; i >= 0; i-- {
		out = append(out, chain[i].Fields...)
	}
	return out
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return floatToInt(f)
		}
	case float64:
		return floatToInt(n)
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	// 2^63 is exactly representable as a float64 but not as an int64.
	if f != math.Trunc(f) || math.IsInf(f, 0) || f >= 0x1p63 || f < -0x1p63 {
		return 0, false
	}
	return int64(f), true
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
