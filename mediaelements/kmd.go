package mediaelements

import (
	"encoding/json"
	"slices"
)

// Kmd generates a module's interface description in Kurento's kmd JSON
// shape from the registry (what ServerManager.getKmd returns).
func (r *Registry) Kmd(module string) (string, error) {
	if !slices.Contains(Modules, module) {
		return "", NewError(CodeKmdNotFound, "Requested kmd module doesn't exist")
	}
	doc := kmdModule{Name: module, Version: APIVersion, KurentoVersion: "^" + APIVersion,
		RemoteClasses: []kmdClass{}, ComplexTypes: []kmdComplex{}, Events: []kmdEvent{}}
	if module != "core" {
		doc.Imports = []kmdImport{{Name: "core", Version: "^" + APIVersion}}
	}
	for _, c := range r.order {
		if c.Module != module {
			continue
		}
		kc := kmdClass{Name: c.Name, Doc: c.Doc, Abstract: c.Abstract, Extends: c.Extends, Events: c.Events}
		if !c.Abstract {
			kc.Constructor = &kmdMethod{Doc: "Create an element", Params: kmdParams(c.Constructor)}
		}
		for _, p := range c.Properties {
			kc.Properties = append(kc.Properties, kmdProperty{Name: p.Name, Doc: p.Doc, Type: p.Type,
				ReadOnly: p.Access == ReadOnly, Final: p.Access == Final})
		}
		for _, m := range c.Methods {
			km := kmdMethod{Name: m.Name, Doc: m.Doc, Params: kmdParams(m.Params)}
			if m.Return != "" {
				km.Return = &kmdReturn{Type: m.Return}
			}
			kc.Methods = append(kc.Methods, km)
		}
		doc.RemoteClasses = append(doc.RemoteClasses, kc)
	}
	for _, t := range r.ComplexTypes() {
		if t.Module != module {
			continue
		}
		kt := kmdComplex{Name: t.Name, Doc: t.Doc, Extends: t.Extends}
		if t.Format == Enum {
			kt.TypeFormat, kt.Values = "ENUM", t.Values
		} else {
			kt.TypeFormat, kt.Properties = "REGISTER", kmdParams(t.Fields)
		}
		doc.ComplexTypes = append(doc.ComplexTypes, kt)
	}
	for _, e := range r.Events() {
		if e.Module == module {
			doc.Events = append(doc.Events, kmdEvent{Name: e.Name, Doc: e.Doc, Extends: e.Extends, Properties: kmdParams(e.Fields)})
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", NewError(CodeUnexpected, "kmd: %v", err)
	}
	return string(b), nil
}

func kmdParams(ps []Param) []kmdParam {
	out := []kmdParam{}
	for _, p := range ps {
		out = append(out, kmdParam{Name: p.Name, Doc: p.Doc, Type: p.Type, Optional: p.Optional, DefaultValue: p.Default})
	}
	return out
}

type kmdModule struct {
	Name           string       `json:"name"`
	Version        string       `json:"version"`
	KurentoVersion string       `json:"kurentoVersion"`
	Imports        []kmdImport  `json:"imports,omitempty"`
	RemoteClasses  []kmdClass   `json:"remoteClasses"`
	ComplexTypes   []kmdComplex `json:"complexTypes"`
	Events         []kmdEvent   `json:"events"`
}

type kmdImport struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type kmdClass struct {
	Name        string        `json:"name"`
	Doc         string        `json:"doc"`
	Abstract    bool          `json:"abstract,omitempty"`
	Extends     string        `json:"extends,omitempty"`
	Constructor *kmdMethod    `json:"constructor,omitempty"`
	Properties  []kmdProperty `json:"properties,omitempty"`
	Methods     []kmdMethod   `json:"methods,omitempty"`
	Events      []string      `json:"events,omitempty"`
}

type kmdProperty struct {
	Name     string `json:"name"`
	Doc      string `json:"doc"`
	Type     string `json:"type"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	Final    bool   `json:"final,omitempty"`
}

type kmdMethod struct {
	Name   string     `json:"name,omitempty"`
	Doc    string     `json:"doc"`
	Params []kmdParam `json:"params"`
	Return *kmdReturn `json:"return,omitempty"`
}

type kmdReturn struct {
	Type string `json:"type"`
}

type kmdParam struct {
	Name         string `json:"name"`
	Doc          string `json:"doc"`
	Type         string `json:"type"`
	Optional     bool   `json:"optional,omitempty"`
	DefaultValue any    `json:"defaultValue,omitempty"`
}

type kmdComplex struct {
	TypeFormat string     `json:"typeFormat"`
	Name       string     `json:"name"`
	Doc        string     `json:"doc"`
	Extends    string     `json:"extends,omitempty"`
	Values     []string   `json:"values,omitempty"`
	Properties []kmdParam `json:"properties,omitempty"`
}

type kmdEvent struct {
	Name       string     `json:"name"`
	Doc        string     `json:"doc"`
	Extends    string     `json:"extends,omitempty"`
	Properties []kmdParam `json:"properties"`
}
