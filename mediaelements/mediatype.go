package mediaelements

import "fmt"

// MediaType is Kurento's MediaType enum.
type MediaType int

const (
	Audio MediaType = iota
	Video
	Data
)

// AllMediaTypes is what a connect without mediaType connects.
var AllMediaTypes = []MediaType{Audio, Video, Data}

func (t MediaType) String() string {
	switch t {
	case Audio:
		return "AUDIO"
	case Video:
		return "VIDEO"
	case Data:
		return "DATA"
	}
	return fmt.Sprintf("MediaType(%d)", int(t))
}

// ParseMediaType parses the wire name (AUDIO, VIDEO, DATA).
func ParseMediaType(s string) (MediaType, error) {
	switch s {
	case "AUDIO":
		return Audio, nil
	case "VIDEO":
		return Video, nil
	case "DATA":
		return Data, nil
	}
	return 0, NewError(CodeUnsupportedMediaType, "Invalid media type '%s'", s)
}
