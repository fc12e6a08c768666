package rpc

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestRequestCache(t *testing.T) {
	c := newRequestCache(time.Minute)
	t0 := time.Now()
	for i := range 3000 {
		c.put("s1", fmt.Sprint(i), []byte(fmt.Sprint("resp-", i)), 0)
	}
	c.put("s2", "k", []byte("x"), 40101)
	if got, ok := c.get("s2", "k"); !ok || string(got.resp) != "x" || got.code != 40101 {
		t.Fatalf("get = %+v %v", got, ok)
	}
	if got, ok := c.get("s1", "1234"); !ok || string(got.resp) != "resp-1234" {
		t.Fatalf("get s1 = %q %v", got.resp, ok)
	}
	if _, ok := c.get("s1", "k"); ok {
		t.Fatal("hit across sessions")
	}
	c.expire(t0) // nothing is older than the TTL yet
	if c.len() != 3001 {
		t.Fatalf("len = %d", c.len())
	}
	c.dropSession("s2")
	if _, ok := c.get("s2", "k"); ok {
		t.Fatal("dropSession left the session's entries reachable")
	}
	c.put("s2", "k", []byte("new"), 0) // the id may come back: a new session
	if got, ok := c.get("s2", "k"); !ok || string(got.resp) != "new" {
		t.Fatalf("recycled session id = %q %v", got.resp, ok)
	}
	c.expire(t0.Add(2 * time.Minute))
	if c.len() != 0 || c.head != 0 || len(c.fifo) != 0 || c.tail != c.wpos {
		t.Fatalf("after expiry: len %d head %d fifo %d tail %d wpos %d", c.len(), c.head, len(c.fifo), c.tail, c.wpos)
	}
	// A key written again keeps its newest value and expiry.
	c.put("s", "k", []byte("a"), 0)
	first := time.Unix(0, c.fifo[len(c.fifo)-1].expires)
	c.put("s", "k", []byte("b"), 0)
	c.expire(first) // the first write's ref may go; the entry was renewed
	if got, ok := c.get("s", "k"); !ok || string(got.resp) != "b" {
		t.Fatalf("renewed entry lost: %q %v", got.resp, ok)
	}
}

// A full log evicts its oldest chunk instead of growing past its bound;
// entries read back intact; memory is recycled, never copied.
func TestRequestCacheBound(t *testing.T) {
	c := newRequestCache(time.Hour)
	c.maxChunks = 2
	resp := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 300_000+i) }
	for i := range 20 {
		c.put("s", fmt.Sprint(i), resp(i), 0)
		if len(c.chunks) > c.maxChunks || len(c.spare) > maxSpareChunks {
			t.Fatalf("after %d: %d chunks, %d spare", i, len(c.chunks), len(c.spare))
		}
		if got, ok := c.get("s", fmt.Sprint(i)); !ok || !bytes.Equal(got.resp, resp(i)) {
			t.Fatalf("entry %d not readable right after put", i)
		}
	}
	if _, ok := c.get("s", "0"); ok {
		t.Fatal("oldest entry survived a full log")
	}
	for i := 16; i < 20; i++ { // the last two chunks hold the last ~6 entries
		if got, ok := c.get("s", fmt.Sprint(i)); !ok || !bytes.Equal(got.resp, resp(i)) {
			t.Fatalf("recent entry %d lost or corrupted", i)
		}
	}
	if c.len() > 6 {
		t.Fatalf("%d slots live for 2 MiB of ~300 kB entries", c.len())
	}
	if c.put("s", "big", make([]byte, cacheChunk+1), 0); c.len() > 6 {
		t.Fatal("an entry larger than a chunk was cached")
	}
	c.expire(time.Now().Add(2 * time.Hour))
	if c.len() != 0 || len(c.chunks) > 1 || c.tail != c.wpos { // the chunk being written stays
		t.Fatalf("after expiry: %d slots, %d chunks, tail %d wpos %d", c.len(), len(c.chunks), c.tail, c.wpos)
	}
	c.put("s", "again", []byte("x"), 0)
	if got, ok := c.get("s", "again"); !ok || string(got.resp) != "x" {
		t.Fatal("cache unusable after being emptied")
	}
}

func TestRequestCacheDisabled(t *testing.T) {
	c := newRequestCache(0)
	c.put("s", "k", []byte("a"), 0)
	if _, ok := c.get("s", "k"); ok || c.len() != 0 {
		t.Fatal("disabled cache stored an entry")
	}
}
