package mediaelements

import "testing"

func TestMediaTypeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want MediaType
	}{{"AUDIO", Audio}, {"VIDEO", Video}, {"DATA", Data}} {
		t.Run(tc.wire, func(t *testing.T) {
			got, err := ParseMediaType(tc.wire)
			if err != nil || got != tc.want || got.String() != tc.wire {
				t.Fatalf("ParseMediaType(%q) = %v, %v", tc.wire, got, err)
			}
		})
	}
	if _, err := ParseMediaType("video"); AsError(err) == nil || AsError(err).Code != CodeUnsupportedMediaType {
		t.Fatalf("lower-case media type accepted: %v", err)
	}
}
