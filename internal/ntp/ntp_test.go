package ntp

import (
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 21, 20, 30, 0, 123456789, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 15, 999999999, time.UTC), // the last second of NTP era 0
	} {
		if d := Time(From(at)).Sub(at); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("Time(From(%v)) is off by %v", at, d)
		}
	}
	if got := From(time.Unix(0, 0)); got != epochOffset<<32 {
		t.Errorf("From(Unix 0) = %#x, want %#x", got, uint64(epochOffset)<<32)
	}
}
