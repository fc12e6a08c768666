package rpc

import (
	"fmt"
	"testing"
	"time"
)

func TestRequestCacheExpiry(t *testing.T) {
	c := newRequestCache(time.Minute)
	t0 := time.Now()
	for i := range 3000 {
		c.put("s1", fmt.Sprint(i), []byte("r"), 0)
	}
	c.put("s2", "k", []byte("x"), 40101)
	if got, ok := c.get("s2", "k"); !ok || string(got.resp) != "x" || got.code != 40101 {
		t.Fatalf("get = %+v %v", got, ok)
	}
	if _, ok := c.get("s1", "k"); ok {
		t.Fatal("hit across sessions")
	}
	c.expire(t0) // nothing is older than the TTL yet
	if c.len() != 3001 {
		t.Fatalf("len = %d", c.len())
	}
	c.dropSession("s2")
	if _, ok := c.get("s2", "k"); ok || c.len() != 3000 {
		t.Fatalf("dropSession left entries: len %d", c.len())
	}
	c.expire(t0.Add(2 * time.Minute))
	if c.len() != 0 || len(c.by) != 0 {
		t.Fatalf("after expiry len %d sessions %d", c.len(), len(c.by))
	}
	if c.head != 0 || len(c.fifo) != 0 {
		t.Fatalf("fifo not compacted: head %d len %d", c.head, len(c.fifo))
	}
	// A key written again keeps its newest expiry.
	c.put("s", "k", []byte("a"), 0)
	first := c.fifo[len(c.fifo)-1].expires
	c.put("s", "k", []byte("b"), 0)
	c.expire(first.Add(time.Nanosecond)) // the first ref expires; the entry was renewed
	if got, ok := c.get("s", "k"); !ok || string(got.resp) != "b" || c.len() != 1 {
		t.Fatalf("renewed entry lost: %q %v len %d", got.resp, ok, c.len())
	}
}

func TestRequestCacheDisabled(t *testing.T) {
	c := newRequestCache(0)
	c.put("s", "k", []byte("a"), 0)
	if _, ok := c.get("s", "k"); ok || c.len() != 0 {
		t.Fatal("disabled cache stored an entry")
	}
}
