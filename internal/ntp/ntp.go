// Package ntp converts RTCP's 64-bit NTP timestamps (RFC 3550 §4: seconds
// since 1900 in the high 32 bits, the fraction in the low 32) to and from
// time.Time.
package ntp

import "time"

// epochOffset is the seconds from 1900-01-01 to 1970-01-01.
const epochOffset = 2208988800

// Time converts an NTP timestamp to a time.
func Time(ntp uint64) time.Time {
	return time.Unix(int64(ntp>>32)-epochOffset, int64((ntp&0xffffffff)*1e9>>32))
}

// From converts a time to an NTP timestamp.
func From(t time.Time) uint64 {
	return uint64(t.Unix()+epochOffset)<<32 | uint64(t.Nanosecond())<<32/1e9
}
