package rpc

import (
	"strings"
	"sync"
	"time"
)

// requestCache remembers responses by (session, request id) so that a
// retransmitted request is answered without running it again (KMS's
// duplicate-request cache).
type requestCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	out     outcome
	expires time.Time
}

func newRequestCache(ttl time.Duration) *requestCache {
	return &requestCache{ttl: ttl, m: map[string]cacheEntry{}}
}

func (c *requestCache) get(key string) (outcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.expires) {
		return outcome{}, false
	}
	return e.out, true
}

func (c *requestCache) put(key string, out outcome) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = cacheEntry{out: out, expires: time.Now().Add(c.ttl)}
}

func (c *requestCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if now.After(e.expires) {
			delete(c.m, k)
		}
	}
}

// dropSession forgets every response cached for a session.
func (c *requestCache) dropSession(sid string) {
	prefix := sid + "\x00"
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			delete(c.m, k)
		}
	}
}

func (c *requestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
