package webrtcendpoint

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	me "github.com/miksilo/miksilo/mediaelements"
)

// supportedCodecs are the formats Miksilo negotiates (see registerCodecs).
var supportedCodecs = []me.Codec{
	{MimeType: "video/VP8", ClockRate: 90000},
	{MimeType: "video/VP9", ClockRate: 90000, Fmtp: "profile-id=0"},
	{MimeType: "video/H264", ClockRate: 90000, Fmtp: h264Fmtp},
	{MimeType: "audio/opus", ClockRate: 48000, Channels: 2},
}

const supportedNames = "VP8, VP9 (profile 0), H264 (packetization-mode=1, profile-level-id=42e01f), opus"

// supported reports whether an offered codec is one Miksilo negotiates.
func supported(c me.Codec) bool {
	for _, s := range supportedCodecs {
		if !s.Same(c) {
			continue
		}
		if strings.EqualFold(c.MimeType, "video/VP9") {
			if p := fmtpParam(c.Fmtp, "profile-id"); p != "" && p != "0" {
				return false
			}
		}
		if strings.EqualFold(c.MimeType, "video/H264") && fmtpParam(c.Fmtp, "packetization-mode") == "" {
			return false // pion (and Miksilo) want it spelt out
		}
		return true
	}
	return false
}

func fmtpParam(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// sdpSummary is what inspectSDP learns from a remote description.
type sdpSummary struct {
	media     int      // media sections, rejected ones included
	usable    int      // audio/video sections with a supported codec
	data      bool     // an application (data channel) section
	offered   []string // codecs of the audio/video sections, for messages
	hasAVLine bool
}

// inspectSDP parses a remote description: SDP_PARSE_ERROR when it is empty
// or not SDP.
func inspectSDP(what, s string) (sdpSummary, error) {
	var sum sdpSummary
	if strings.TrimSpace(s) == "" {
		return sum, me.NewError(me.CodeSDPParse, "Empty %s not valid", what)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		return sum, me.NewError(me.CodeSDPParse, "Error parsing SDP %s: %v", what, err)
	}
	for _, md := range sd.MediaDescriptions {
		sum.media++
		switch md.MediaName.Media {
		case "application":
			sum.data = true
		case "audio", "video":
			sum.hasAVLine = true
			if md.MediaName.Port.Value == 0 {
				continue // rejected section
			}
			ok := false
			for _, c := range sectionCodecs(md) {
				sum.offered = append(sum.offered, fmt.Sprintf("%s/%d", strings.TrimPrefix(strings.TrimPrefix(c.MimeType, "audio/"), "video/"), c.ClockRate))
				if supported(c) {
					ok = true
				}
			}
			if ok {
				sum.usable++
			}
		}
	}
	return sum, nil
}

// sectionCodecs lists the codecs of a media section from its rtpmap and fmtp lines.
func sectionCodecs(md *sdp.MediaDescription) []me.Codec {
	byPT := map[string]*me.Codec{}
	var order []string
	for _, f := range md.MediaName.Formats {
		byPT[f] = &me.Codec{}
		order = append(order, f)
	}
	for _, a := range md.Attributes {
		pt, rest, _ := strings.Cut(a.Value, " ")
		c, ok := byPT[pt]
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(pt)
		c.PayloadType = uint8(n)
		switch a.Key {
		case "rtpmap":
			parts := strings.Split(strings.TrimSpace(rest), "/")
			c.MimeType = md.MediaName.Media + "/" + parts[0]
			if len(parts) > 1 {
				clock, _ := strconv.ParseUint(parts[1], 10, 32)
				c.ClockRate = uint32(clock)
			}
			if len(parts) > 2 {
				ch, _ := strconv.ParseUint(parts[2], 10, 16)
				c.Channels = uint16(ch)
			}
		case "fmtp":
			c.Fmtp = strings.TrimSpace(rest)
		}
	}
	var out []me.Codec
	for _, pt := range order {
		if c := byPT[pt]; c.MimeType != "" {
			out = append(out, *c)
		}
	}
	return out
}
