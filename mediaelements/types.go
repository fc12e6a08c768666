package mediaelements

// coreComplexTypes declares the complex types the registered classes and
// events use (kmd core module).
func coreComplexTypes() []*ComplexType {
	enum := func(name, doc string, values ...string) *ComplexType {
		return &ComplexType{Name: name, Module: "core", Format: Enum, Values: values, Doc: doc}
	}
	reg := func(name, extends, doc string, fields ...Param) *ComplexType {
		return &ComplexType{Name: name, Module: "core", Format: Register, Extends: extends, Fields: fields, Doc: doc}
	}
	f := func(name, typ string) Param { return Param{Name: name, Type: typ} }
	return []*ComplexType{
		enum("MediaType", "Type of media stream to be exchanged.", "AUDIO", "DATA", "VIDEO"),
		enum("MediaFlowState", "Flowing state of the media.", "FLOWING", "NOT_FLOWING"),
		enum("MediaTranscodingState", "Transcoding state of a media element.", "TRANSCODING", "NOT_TRANSCODING"),
		enum("ServerType", "Kind of server.", "KMS", "KCS"),
		enum("GstreamerDotDetails", "Details of the dot description.", "SHOW_MEDIA_TYPE", "SHOW_CAPS_DETAILS", "SHOW_NON_DEFAULT_PARAMS", "SHOW_STATES", "SHOW_FULL_PARAMS", "SHOW_ALL", "SHOW_VERBOSE"),
		enum("StatsType", "The type of a Stats object.", "inboundrtp", "outboundrtp", "session", "datachannel", "track", "transport", "candidatepair", "localcandidate", "remotecandidate", "element", "endpoint"),
		reg("Tag", "", "A key/value pair attached to a MediaObject.", f("key", "String"), f("value", "String")),
		reg("ElementConnectionData", "", "One connection between two elements.",
			f("source", "MediaElement"), f("sink", "MediaElement"), f("type", "MediaType"),
			f("sourceDescription", "String"), f("sinkDescription", "String")),
		reg("ModuleInfo", "", "A module loaded in the server and its factories.",
			f("version", "String"), f("name", "String"), f("generationTime", "String"), f("factories", "String[]")),
		reg("ServerInfo", "", "Description of the server.",
			f("version", "String"), f("modules", "ModuleInfo[]"), f("type", "ServerType"), f("capabilities", "String[]")),
		reg("Stats", "", "Base of every statistics object.", f("id", "String"), f("type", "StatsType"), f("timestampMillis", "int64")),
		reg("MediaLatencyStat", "", "A latency statistic of one media type.", f("name", "String"), f("type", "MediaType"), f("avg", "double")),
		reg("ElementStats", "Stats", "Statistics of a media element.", f("inputLatency", "MediaLatencyStat[]")),
	}
}

// coreEvents declares the events of the registered classes.
func coreEvents() []*EventType {
	ev := func(name, extends, doc string, fields ...Param) *EventType {
		return &EventType{Name: name, Module: "core", Extends: extends, Fields: fields, Doc: doc}
	}
	f := func(name, typ string) Param { return Param{Name: name, Type: typ} }
	conn := []Param{f("sink", "MediaElement"), f("mediaType", "MediaType"), f("sourceMediaDescription", "String"), f("sinkMediaDescription", "String")}
	flow := []Param{f("state", "MediaFlowState"), f("padName", "String"), f("mediaType", "MediaType")}
	return []*EventType{
		ev("RaiseBase", "", "Base of every event.", f("source", "MediaObject"), f("timestampMillis", "String"), f("tags", "Tag[]")),
		ev("Media", "RaiseBase", "Base of media events; data.type is the event name.", f("type", "String")),
		ev("Error", "RaiseBase", "An error related to the MediaObject has occurred.",
			f("description", "String"), f("errorCode", "int"), f("type", "String")),
		ev("ObjectCreated", "RaiseBase", "An object has been created.", f("object", "MediaObject")),
		ev("ObjectDestroyed", "RaiseBase", "An object has been destroyed.", f("objectId", "String")),
		ev("ElementConnected", "Media", "The element has been connected to a sink.", conn...),
		ev("ElementDisconnected", "Media", "The element has been disconnected from a sink.", conn...),
		ev("MediaFlowInStateChanged", "Media", "Incoming media started or stopped flowing on a sink pad.", flow...),
		ev("MediaFlowOutStateChanged", "Media", "Outgoing media started or stopped flowing on a source pad.", flow...),
		ev("MediaTranscodingStateChanged", "Media", "Transcoding started or stopped.",
			f("state", "MediaTranscodingState"), f("binName", "String"), f("mediaType", "MediaType")),
	}
}
