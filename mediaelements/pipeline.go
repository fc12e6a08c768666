package mediaelements

import (
	"os"
	"path/filepath"
	"sync"
)

// Pipeline is a MediaPipeline: the container of elements and hubs, and the
// owner of their media graph.
type Pipeline struct {
	ObjectBase
	graphMu sync.Mutex // guards every connection between its elements

	smu          sync.Mutex
	latencyStats bool
}

// Elements lists the pipeline's media elements, hub ports included.
func (p *Pipeline) Elements() []MediaElement {
	var out []MediaElement
	var walk func(o Object)
	walk = func(o Object) {
		for _, ch := range p.store.childrenOf(o) {
			if e, ok := ch.(MediaElement); ok {
				out = append(out, e)
			}
			walk(ch)
		}
	}
	walk(p)
	return out
}

func pipelineClass() *Class {
	return &Class{
		Name: "MediaPipeline", Module: "core", Extends: "MediaObject",
		Doc: "A pipeline is a container for a collection of MediaElements; it offers the methods to create and connect elements inside it.",
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			p := &Pipeline{}
			in.Pipeline = p
			p.Init(in)
			return p, nil
		},
		Properties: []Property{
			{Name: "latencyStats", Type: "boolean", Access: ReadWrite, Doc: "Whether latency statistics are collected for all elements.",
				Get: Get(func(p *Pipeline) any {
					p.smu.Lock()
					defer p.smu.Unlock()
					return p.latencyStats
				}),
				Set: Set(func(p *Pipeline, v bool) error {
					p.smu.Lock()
					p.latencyStats = v
					p.smu.Unlock()
					return nil
				})},
		},
		Methods: []Method{
			{Name: "getGstreamerDot", Return: "String", Params: []Param{{Name: "details", Type: "GstreamerDotDetails", Optional: true}},
				Doc: "A Graphviz (dot) description of the pipeline's elements and connections.",
				Call: Do(func(_ *Call, p *Pipeline, _ Args) (any, error) {
					return dot(p.id, p.Elements()), nil
				})},
			{Name: "dumpGstreamerDot", Params: []Param{{Name: "details", Type: "GstreamerDotDetails", Optional: true}},
				Doc: "Writes the pipeline's dot description to GST_DEBUG_DUMP_DOT_DIR (when set) as <pipeline id>.dot.",
				Call: Do(func(_ *Call, p *Pipeline, _ Args) (any, error) {
					dir := os.Getenv("GST_DEBUG_DUMP_DOT_DIR")
					if dir == "" {
						return nil, nil
					}
					name := filepath.Join(dir, filepath.Base(p.id)+".dot")
					if err := os.WriteFile(name, []byte(dot(p.id, p.Elements())), 0o644); err != nil {
						return nil, NewError(CodeUnexpected, "cannot write %s: %v", name, err)
					}
					return nil, nil
				})},
		},
	}
}
