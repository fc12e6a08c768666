package mediaelements

// coreClasses are the object model's own classes: the abstract bases and
// the classes every server has (MediaPipeline, ServerManager, HubPort).
// Element types are passed to NewRegistry by the server's type list.
func coreClasses() []*Class {
	return append([]*Class{mediaObjectClass(), serverManagerClass(), pipelineClass(), mediaElementClass(), hubClass(), hubPortClass()}, endpointClasses()...)
}

func mediaObjectClass() *Class {
	return &Class{
		Name: "MediaObject", Module: "core", Abstract: true,
		Doc: "Base interface used to manage capabilities common to all Kurento elements.",
		Properties: []Property{
			{Name: "mediaPipeline", Type: "MediaPipeline", Access: Final,
				Doc: "MediaPipeline to which this MediaObject belongs. It returns itself when invoked for a pipeline object.",
				Get: Get(func(o Object) any {
					if p := o.Base().pipeline; p != nil {
						return p.id
					}
					return nil
				})},
			{Name: "parent", Type: "MediaObject", Access: Final,
				Doc: "Parent of this MediaObject: the pipeline for elements and hubs, the hub for hub ports, none for pipelines.",
				Get: Get(func(o Object) any {
					if p := o.Base().parent; p != nil {
						return p.Base().id
					}
					return nil
				})},
			{Name: "id", Type: "String", Access: Final, Doc: "Unique identifier of this MediaObject.",
				Get: Get(func(o Object) any { return o.Base().id })},
			{Name: "children", Type: "MediaObject[]", Access: ReadOnly, Doc: "Children of this MediaObject.",
				Get: Get(func(o Object) any { return o.Base().store.childrenOf(o) })},
			{Name: "name", Type: "String", Access: ReadWrite, Doc: "This MediaObject's name; its id unless set.",
				Get: Get(func(o Object) any { return o.Base().Name() }),
				Set: Set(func(o Object, v string) error { o.Base().locked(func(b *ObjectBase) { b.name = v }); return nil })},
			{Name: "sendTagsInEvents", Type: "boolean", Access: ReadWrite, Doc: "Whether the object's tags are sent in the events it raises.",
				Get: Get(func(o Object) any {
					var v bool
					o.Base().locked(func(b *ObjectBase) { v = b.sendTags })
					return v
				}),
				Set: Set(func(o Object, v bool) error { o.Base().locked(func(b *ObjectBase) { b.sendTags = v }); return nil })},
			{Name: "creationTime", Type: "int", Access: Final, Doc: "Creation time in seconds since the Epoch.",
				Get: Get(func(o Object) any { return o.Base().created.Unix() })},
		},
		Methods: []Method{
			{Name: "addTag", Params: []Param{{Name: "key", Type: "String"}, {Name: "value", Type: "String"}},
				Doc: "Adds a new tag to this MediaObject; an existing tag with the same key gets the new value.",
				Call: Do(func(_ *Call, o Object, a Args) (any, error) {
					o.Base().setTag(a.String("key"), a.String("value"))
					return nil, nil
				})},
			{Name: "removeTag", Params: []Param{{Name: "key", Type: "String"}},
				Doc: "Removes a tag; no error if it is not defined.",
				Call: Do(func(_ *Call, o Object, a Args) (any, error) {
					o.Base().removeTag(a.String("key"))
					return nil, nil
				})},
			{Name: "getTag", Params: []Param{{Name: "key", Type: "String"}}, Return: "String",
				Doc: "Returns the value of a tag, or MEDIA_OBJECT_TAG_KEY_NOT_FOUND.",
				Call: Do(func(_ *Call, o Object, a Args) (any, error) {
					v, ok := o.Base().tag(a.String("key"))
					if !ok {
						return nil, NewError(CodeTagKeyNotFound, "Tag key '%s' not found", a.String("key"))
					}
					return v, nil
				})},
			{Name: "getTags", Return: "Tag[]", Doc: "Returns all tags attached to this MediaObject.",
				Call: Do(func(_ *Call, o Object, _ Args) (any, error) { return o.Base().tagsSnapshot(false), nil })},
		},
		Events: []string{"Error"},
	}
}

func mediaElementClass() *Class {
	bitrate := func(name, doc string, field func(e *Element) *int) Property {
		return Property{Name: name, Type: "int", Access: ReadWrite, Doc: doc,
			Get: Get(func(e MediaElement) any {
				el := e.Elem()
				el.emu.Lock()
				defer el.emu.Unlock()
				return *field(el)
			}),
			Set: Set(func(e MediaElement, v int) error {
				if v < 0 {
					return NewError(CodeIllegalParam, "%s must not be negative", name)
				}
				el := e.Elem()
				el.emu.Lock()
				*field(el) = v
				el.emu.Unlock()
				return nil
			})}
	}
	optType := Param{Name: "mediaType", Type: "MediaType", Optional: true}
	connParams := []Param{
		{Name: "sink", Type: "MediaElement"},
		optType,
		{Name: "sourceMediaDescription", Type: "String", Optional: true, Default: "default"},
		{Name: "sinkMediaDescription", Type: "String", Optional: true, Default: "default"},
	}
	link := func(fn func(src, sink MediaElement, types []MediaType, sd, kd string) error) func(*Call, Object, Args) (any, error) {
		return Do(func(_ *Call, e MediaElement, a Args) (any, error) {
			sink, ok := a.Object("sink").(MediaElement)
			if !ok {
				return nil, errMarshal("sink", "MediaElement")
			}
			types, err := mediaTypesArg(a)
			if err != nil {
				return nil, err
			}
			return nil, fn(e, sink, types, a.String("sourceMediaDescription"), a.String("sinkMediaDescription"))
		})
	}
	list := func(sources bool) func(*Call, Object, Args) (any, error) {
		return Do(func(_ *Call, e MediaElement, a Args) (any, error) {
			t, err := optMediaType(a)
			if err != nil {
				return nil, err
			}
			var desc *string
			if a.Has("description") {
				d := a.String("description")
				desc = &d
			}
			if sources {
				return connectionData(e.Elem().SourceConnections(t, desc)), nil
			}
			return connectionData(e.Elem().SinkConnections(t, desc)), nil
		})
	}
	flowing := func(in bool, descParam string) Method {
		name, doc := "isMediaFlowingOut", "Whether the element is emitting media of a type on a source pad."
		if in {
			name, doc = "isMediaFlowingIn", "Whether the element is receiving media of a type on a sink pad."
		}
		return Method{Name: name, Return: "boolean", Doc: doc,
			Params: []Param{{Name: "mediaType", Type: "MediaType"}, {Name: descParam, Type: "String", Optional: true, Default: "default"}},
			Call: Do(func(_ *Call, e MediaElement, a Args) (any, error) {
				t, err := ParseMediaType(a.String("mediaType"))
				if err != nil {
					return nil, err
				}
				return e.Elem().isFlowing(in, t, a.String(descParam)), nil
			})}
	}
	return &Class{
		Name: "MediaElement", Module: "core", Extends: "MediaObject", Abstract: true,
		Doc: "The basic building block of the media server, that can be interconnected inside a pipeline.",
		Properties: []Property{
			bitrate("encoderBitrate", "Target video bitrate for media transcoding (bps).", func(e *Element) *int { return &e.encoderBitrate }),
			bitrate("minEncoderBitrate", "Minimum video bitrate for media transcoding (bps).", func(e *Element) *int { return &e.minEncoderBitrate }),
			bitrate("maxEncoderBitrate", "Maximum video bitrate for media transcoding (bps; 0 = unlimited).", func(e *Element) *int { return &e.maxEncoderBitrate }),
		},
		Methods: []Method{
			{Name: "connect", Params: connParams, Call: link(Connect),
				Doc: "Connects two elements, media flowing from this one to sink. Without mediaType, AUDIO, VIDEO and DATA are connected. A sink pad takes one source: connecting a new one replaces the old."},
			{Name: "disconnect", Params: connParams, Call: link(Disconnect),
				Doc: "Disconnects two media elements."},
			{Name: "getSourceConnections", Return: "ElementConnectionData[]", Call: list(true),
				Params: []Param{optType, {Name: "description", Type: "String", Optional: true}},
				Doc:    "Connections sending media to this element (its sink pads), filtered by media type and sink description."},
			{Name: "getSinkConnections", Return: "ElementConnectionData[]", Call: list(false),
				Params: []Param{optType, {Name: "description", Type: "String", Optional: true}},
				Doc:    "Connections receiving media from this element (its source pads), filtered by media type and source description."},
			flowing(true, "sinkMediaDescription"),
			flowing(false, "sourceMediaDescription"),
			{Name: "isMediaTranscoding", Return: "boolean",
				Params: []Param{{Name: "mediaType", Type: "MediaType"}, {Name: "binName", Type: "String", Optional: true, Default: "default"}},
				Doc:    "Whether the element is transcoding media of a type.",
				Call: Do(func(_ *Call, e MediaElement, a Args) (any, error) {
					mt, err := ParseMediaType(a.String("mediaType"))
					if err != nil {
						return nil, err
					}
					if t, ok := e.(interface{ Transcoding(MediaType) bool }); ok {
						return t.Transcoding(mt), nil
					}
					return false, nil
				})},
			{Name: "getGstreamerDot", Return: "String", Params: []Param{{Name: "details", Type: "GstreamerDotDetails", Optional: true}},
				Doc: "A Graphviz description of the element and its connections.",
				Call: Do(func(_ *Call, e MediaElement, _ Args) (any, error) {
					return dot(e.Base().id, []MediaElement{e}), nil
				})},
			{Name: "getStats", Return: "Stats<>", Params: []Param{optType},
				Doc: "Statistics of the element: an ElementStats entry (endpoints add RTC statistics).",
				Call: Do(func(c *Call, e MediaElement, a Args) (any, error) {
					if s, ok := e.(interface {
						Stats(c *Call, t *MediaType) (map[string]any, error)
					}); ok {
						t, err := optMediaType(a)
						if err != nil {
							return nil, err
						}
						return s.Stats(c, t)
					}
					id := e.Base().id + "_element"
					return map[string]any{id: map[string]any{
						"__module__": "kurento", "__type__": "ElementStats", "id": id, "type": "element",
						"timestampMillis": e.Base().store.now().UnixMilli(), "inputLatency": []any{},
					}}, nil
				})},
		},
		Events: []string{"ElementConnected", "ElementDisconnected", "MediaFlowOutStateChanged", "MediaFlowInStateChanged", "MediaTranscodingStateChanged"},
	}
}

// optMediaType reads the optional mediaType param (nil when absent).
func optMediaType(a Args) (*MediaType, error) {
	if !a.Has("mediaType") {
		return nil, nil
	}
	t, err := ParseMediaType(a.String("mediaType"))
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// mediaTypesArg reads the optional mediaType param: absent means all types.
func mediaTypesArg(a Args) ([]MediaType, error) {
	t, err := optMediaType(a)
	switch {
	case err != nil:
		return nil, err
	case t == nil:
		return AllMediaTypes, nil
	}
	return []MediaType{*t}, nil
}

// PassThroughClass is Kurento's PassThrough: an element that passes media
// through unchanged.
func PassThroughClass() *Class {
	return &Class{
		Name: "PassThrough", Module: "core", Extends: "MediaElement",
		Doc:         "A MediaElement that just passes media through.",
		Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline", Doc: "the parent MediaPipeline"}},
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			p := &PassThrough{}
			p.InitElement(in)
			for _, t := range AllMediaTypes {
				Forward(p.Input(t, "default"), p.Output(t, "default"))
			}
			return p, nil
		},
	}
}

// Forward makes an input feed an output unchanged: packets, the codec, and
// keyframe requests going back upstream.
func Forward(in *Input, out *Output) {
	in.elem.markForwarding()
	in.SetHandler(out.WriteRTP)
	in.OnCodec(out.SetCodec)
	out.OnKeyframeRequest(in.RequestKeyframe)
	out.SetClock(in.ForwardedClock)
}

// PassThrough is an element with no processing of its own.
type PassThrough struct {
	Element
}
