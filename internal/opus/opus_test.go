package opus

import (
	"bytes"
	"testing"
)

func TestValidOpus(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 1275)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"empty", nil, false},
		{"TOC only (DTX)", []byte{0xf8}, true},
		{"code 0", []byte{0xf8, 1, 2, 3}, true},
		{"code 0, 1275 bytes", cat([]byte{0xf8}, big), true},
		{"code 0, 1276 bytes", cat([]byte{0xf8}, big, []byte{1}), false},
		{"code 1 even", []byte{0xf9, 1, 2, 3, 4}, true},
		{"code 1 odd", []byte{0xf9, 1, 2, 3}, false},
		{"code 2", []byte{0xfa, 2, 9, 9, 8}, true},
		{"code 2 first too long", []byte{0xfa, 5, 9, 9}, false},
		{"code 2 two-byte length", cat([]byte{0xfa, 252, 1}, make([]byte, 256)), true},
		{"code 2 truncated length", []byte{0xfa, 252}, false},
		{"code 3 no count", []byte{0xfb}, false},
		{"code 3 zero frames", []byte{0xfb, 0}, false},
		{"code 3 six 20 ms frames", []byte{0xfb, 6, 1, 1, 1, 1, 1, 1}, true},
		{"code 3 seven 20 ms frames (140 ms)", []byte{0xfb, 7, 1, 1, 1, 1, 1, 1, 1}, false},
		{"code 3 63 frames: garbage from the tests", []byte{0xff, 0xff, 1, 2, 3, 4}, false},
		{"code 3 48 2.5 ms frames", cat([]byte{0xe3, 48}, make([]byte, 48)), true},
		{"code 3 CBR uneven", []byte{0xfb, 2, 1, 2, 3}, false},
		{"code 3 padding", []byte{0xfb, 0x41, 2, 1, 2, 3, 0, 0}, true},
		{"code 3 padding too long", []byte{0xfb, 0x41, 9, 1}, false},
		{"code 3 padding 255 chain", cat([]byte{0xfb, 0x41, 255, 1}, make([]byte, 255), []byte{5}), true},
		{"code 3 VBR", []byte{0xfb, 0x82, 1, 9, 8, 8}, true},
		{"code 3 VBR sizes too long", []byte{0xfb, 0x82, 4, 9}, false},
		{"SILK 60 ms x2 (code 1)", []byte{0x1b - 2, 1, 1}, true},
		{"SILK 60 ms x3 (code 3, 180 ms)", []byte{0x1b, 3, 1, 1, 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid(tc.pkt); got != tc.want {
				t.Fatalf("Valid(%x) = %v, want %v", tc.pkt[:min(len(tc.pkt), 16)], got, tc.want)
			}
		})
	}
}

// FuzzValidOpus: never panics, and what it accepts has a sane frame layout
// (a TOC byte, at most 120 ms).
func FuzzValidOpus(f *testing.F) {
	for _, s := range [][]byte{{0xf8}, {0xfb, 0x82, 1, 9, 8, 8}, {0xfb, 0x41, 255, 1}, {0xfa, 252, 1}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !Valid(b) {
			return
		}
		frames := [4]int{1, 2, 2, 0}[b[0]&3]
		if frames == 0 {
			frames = int(b[1] & 0x3f)
		}
		if frames*frameSamples(b[0]>>3) > maxPacketSamples {
			t.Fatalf("accepted %x: %d frames", b, frames)
		}
	})
}
