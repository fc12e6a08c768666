package mediaelements

import (
	"fmt"
	"strings"
)

// APIMarkdown renders docs/api.md from the registry.
func (r *Registry) APIMarkdown() string {
	var b strings.Builder
	b.WriteString("# Miksilo API reference\n\n")
	b.WriteString("Generated from the type registry (`mediaelements.Registry`) by `make docs`; a test fails when this file is stale.\n")
	b.WriteString("Every class below can be driven over the Kurento Protocol (see docs/protocol.md): properties are read with\n")
	b.WriteString("`invoke get<Prop>` and, unless read-only or final, written with `invoke set<Prop> {\"<prop>\": value}`.\n")
	b.WriteString("Methods a class does not declare are looked up on its parent.\n\n")
	b.WriteString("## Classes\n\n")
	for _, m := range Modules {
		fmt.Fprintf(&b, "- module `%s`:", m)
		for _, c := range r.order {
			if c.Module == m {
				fmt.Fprintf(&b, " [%s](#%s)", c.Name, strings.ToLower(c.Name))
			}
		}
		b.WriteString("\n")
	}
	for _, c := range r.order {
		fmt.Fprintf(&b, "\n### %s\n\n", c.Name)
		kind := "creatable with `create`"
		if c.Abstract {
			kind = "abstract"
		}
		fmt.Fprintf(&b, "`%s` — module `%s`, %s", c.QualifiedName(), c.Module, kind)
		if c.Extends != "" {
			fmt.Fprintf(&b, ", extends [%s](#%s)", c.Extends, strings.ToLower(c.Extends))
		}
		if c.Extension {
			b.WriteString(" — **Miksilo extension**")
		}
		fmt.Fprintf(&b, ".\n\n%s\n", c.Doc)
		if !c.Abstract {
			b.WriteString("\nConstructor params:")
			if len(c.Constructor) == 0 {
				b.WriteString(" none.\n")
			} else {
				b.WriteString("\n\n")
				writeParams(&b, c.Constructor)
			}
		}
		if len(c.Properties) > 0 {
			b.WriteString("\nProperties:\n\n| name | type | access | description |\n| --- | --- | --- | --- |\n")
			for _, p := range c.Properties {
				acc := "get/set"
				switch p.Access {
				case ReadOnly:
					acc = "read-only"
				case Final:
					acc = "final"
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, p.Type, acc, oneLine(p.Doc))
			}
		}
		if len(c.Methods) > 0 {
			b.WriteString("\nMethods:\n\n")
			for _, m := range c.Methods {
				var ps []string
				for _, p := range m.Params {
					s := p.Name + ": " + p.Type
					if p.Optional {
						s += "?"
						if p.Default != nil {
							s += fmt.Sprintf(" = %v", p.Default)
						}
					}
					ps = append(ps, s)
				}
				ret := "void"
				if m.Return != "" {
					ret = m.Return
				}
				fmt.Fprintf(&b, "- `%s(%s) → %s` — %s\n", m.Name, strings.Join(ps, ", "), ret, oneLine(m.Doc))
			}
		}
		if len(c.Events) > 0 {
			fmt.Fprintf(&b, "\nEvents: %s.\n", "`"+strings.Join(c.Events, "`, `")+"`")
		}
	}
	b.WriteString("\n## Events\n\nEvery event's `data` carries `source`, `timestampMillis` (string) and `tags`; events extending `Media` also carry `type` (the event name).\n\n")
	for _, e := range r.Events() {
		fmt.Fprintf(&b, "- **%s**", e.Name)
		if e.Extends != "" {
			fmt.Fprintf(&b, " (extends %s)", e.Extends)
		}
		var fs []string
		for _, f := range e.Fields {
			fs = append(fs, "`"+f.Name+"`: "+f.Type)
		}
		if len(fs) > 0 {
			b.WriteString(": " + strings.Join(fs, ", "))
		}
		fmt.Fprintf(&b, ". %s\n", oneLine(e.Doc))
	}
	b.WriteString("\n## Complex types\n\n")
	for _, t := range r.ComplexTypes() {
		if t.Format == Enum {
			fmt.Fprintf(&b, "- **%s** (enum): %s. %s\n", t.Name, strings.Join(t.Values, ", "), oneLine(t.Doc))
			continue
		}
		var fs []string
		for _, f := range t.Fields {
			s := "`" + f.Name + "`: " + f.Type
			if f.Optional {
				s += "?"
			}
			fs = append(fs, s)
		}
		ext := ""
		if t.Extends != "" {
			ext = ", extends " + t.Extends
		}
		fmt.Fprintf(&b, "- **%s** (object%s): %s. %s\n", t.Name, ext, strings.Join(fs, ", "), oneLine(t.Doc))
	}
	return b.String()
}

func writeParams(b *strings.Builder, ps []Param) {
	b.WriteString("| name | type | required | default | description |\n| --- | --- | --- | --- | --- |\n")
	for _, p := range ps {
		req, def := "yes", ""
		if p.Optional {
			req = "no"
			if p.Default != nil {
				def = fmt.Sprintf("`%v`", p.Default)
			}
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.Type, req, def, oneLine(p.Doc))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
