package composite

import (
	"log/slog"
	"time"

	me "github.com/miksilo/miksilo/mediaelements"
)

// Class is the Composite class. log is the server's logger (the
// composite's own logger carries its id); m, when not nil, counts what
// every Composite does (NewMetrics).
func Class(log *slog.Logger, m *Metrics) *me.Class {
	return class(log, m, nil)
}

// class lets tests require extra element factories (a missing plugin).
func class(log *slog.Logger, m *Metrics, extraElements []string) *me.Class {
	portParam := me.Param{Name: "port", Type: "HubPort", Doc: "a HubPort of this Composite"}
	return &me.Class{
		Name: "Composite", Module: "elements", Extends: "Hub",
		Doc: "A Hub that mixes the audio and video of its HubPorts: each port's video is decoded and placed on one canvas " +
			"(automatic grid, or setLayout's regions), each port's audio is decoded and mixed; the result is encoded once and " +
			"sent out of every HubPort. Implemented on GStreamer; see docs/composite.md. " +
			"Miksilo extensions: the codec, bitrate, background and inputTimeout constructor parameters and the " +
			"setLayout, setMixMinus, setGain and setMute methods.",
		Constructor: []me.Param{
			{Name: "mediaPipeline", Type: "MediaPipeline", Doc: "the parent MediaPipeline"},
			{Name: "width", Type: "int", Optional: true, Default: DefaultWidth, Doc: "width of the output canvas in pixels (even, 16–7680)"},
			{Name: "height", Type: "int", Optional: true, Default: DefaultHeight, Doc: "height of the output canvas in pixels (even, 16–4320)"},
			{Name: "framerate", Type: "int", Optional: true, Default: DefaultFramerate, Doc: "output frames per second (1–60)"},
			{Name: "codec", Type: "String", Optional: true, Default: CodecVP8, Doc: "Miksilo extension: output video codec, VP8 or H264"},
			{Name: "bitrate", Type: "int", Optional: true, Default: DefaultBitrate, Doc: "Miksilo extension: output video bitrate in bits per second (CBR)"},
			{Name: "background", Type: "String", Optional: true, Default: DefaultBackground, Doc: "Miksilo extension: canvas colour behind and between the inputs, #RRGGBB"},
			{Name: "inputTimeout", Type: "int", Optional: true, Default: int(DefaultInputTimeout / time.Millisecond),
				Doc: "Miksilo extension: milliseconds without video packets after which an input leaves the layout (it returns with its media)"},
		},
		New: func(_ *me.Call, in me.ObjectInit, a me.Args) (me.Object, error) {
			s := Settings{Width: a.Int("width"), Height: a.Int("height"), Framerate: a.Int("framerate"), Codec: a.String("codec"),
				Bitrate: a.Int("bitrate"), Background: a.String("background"), InputTimeout: time.Duration(a.Int("inputTimeout")) * time.Millisecond,
				Log: log, Metrics: m, extraElements: extraElements}
			if a.Int("width") <= 0 || a.Int("height") <= 0 || a.Int("framerate") <= 0 || a.Int("bitrate") <= 0 || a.Int("inputTimeout") <= 0 {
				return nil, me.NewError(me.CodeIllegalParam, "width, height, framerate, bitrate and inputTimeout must be positive")
			}
			return New(in, s)
		},
		Methods: []me.Method{
			{Name: "setLayout", Params: []me.Param{{Name: "layout", Type: "String",
				Doc: `JSON array of regions [{"port": "<HubPort id>", "x": 0, "y": 0, "width": 400, "height": 300, "zOrder": 1}] in canvas pixels; "" or "[]" restores the automatic grid`}},
				Doc: "Miksilo extension: places ports in explicit regions instead of the automatic grid. Each input is scaled into its region " +
					"keeping its aspect ratio; higher zOrder is drawn on top; ports without a region are not drawn.",
				Call: me.Do(func(_ *me.Call, c *Composite, a me.Args) (any, error) { return nil, c.SetLayout(a.String("layout")) })},
			{Name: "setMixMinus", Params: []me.Param{portParam, {Name: "enabled", Type: "boolean"}},
				Doc: "Miksilo extension: when enabled, the port receives the audio mix without its own audio.",
				Call: me.Do(func(_ *me.Call, c *Composite, a me.Args) (any, error) {
					hp, err := c.portOf(a.Object("port"))
					if err != nil {
						return nil, err
					}
					return nil, c.SetMixMinus(hp, a.Bool("enabled"))
				})},
			{Name: "setGain", Params: []me.Param{portParam, {Name: "gain", Type: "float", Doc: "linear gain, 0 to 10 (1 = unchanged)"}},
				Doc: "Miksilo extension: sets the gain of the port's audio in the mix.",
				Call: me.Do(func(_ *me.Call, c *Composite, a me.Args) (any, error) {
					hp, err := c.portOf(a.Object("port"))
					if err != nil {
						return nil, err
					}
					return nil, c.SetGain(hp, a.Float("gain"))
				})},
			{Name: "setMute", Params: []me.Param{portParam, {Name: "muted", Type: "boolean"}},
				Doc: "Miksilo extension: mutes or unmutes the port's audio in the mix.",
				Call: me.Do(func(_ *me.Call, c *Composite, a me.Args) (any, error) {
					hp, err := c.portOf(a.Object("port"))
					if err != nil {
						return nil, err
					}
					return nil, c.SetMute(hp, a.Bool("muted"))
				})},
		},
	}
}
