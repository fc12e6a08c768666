package rpc

import (
	"sync"
	"time"
)

// requestCache remembers serialised responses so that a retransmitted
// request is answered without running it again (KMS's duplicate-request
// cache). Entries expire in insertion order (the TTL is fixed), so expiry
// costs O(expired) rather than a scan; entries are grouped by session so a
// collected session's entries go in O(1).
type requestCache struct {
	ttl time.Duration

	mu    sync.Mutex
	by    map[string]map[string]cacheEntry // session → key → entry
	fifo  []cacheRef
	head  int
	count int
}

type cacheEntry struct {
	resp    []byte
	code    int // the response's error code, 0 for a result (metrics)
	expires time.Time
}

type cacheRef struct {
	session, key string
	expires      time.Time
}

func newRequestCache(ttl time.Duration) *requestCache {
	return &requestCache{ttl: ttl, by: map[string]map[string]cacheEntry{}}
}

func (c *requestCache) get(session, key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.by[session][key]
	if !ok || time.Now().After(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *requestCache) put(session, key string, resp []byte, code int) {
	if c.ttl <= 0 {
		return
	}
	exp := time.Now().Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.by[session]
	if !ok {
		m = map[string]cacheEntry{}
		c.by[session] = m
	}
	if _, dup := m[key]; !dup {
		c.count++
	}
	m[key] = cacheEntry{resp: resp, code: code, expires: exp}
	c.fifo = append(c.fifo, cacheRef{session: session, key: key, expires: exp})
}

// expire drops entries older than the TTL.
func (c *requestCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.fifo) && now.After(c.fifo[c.head].expires) {
		r := c.fifo[c.head]
		c.fifo[c.head] = cacheRef{}
		c.head++
		if m, ok := c.by[r.session]; ok {
			if e, ok := m[r.key]; ok && !e.expires.After(r.expires) {
				delete(m, r.key)
				c.count--
				if len(m) == 0 {
					delete(c.by, r.session)
				}
			}
		}
	}
	if c.head > 1024 && c.head > len(c.fifo)/2 {
		c.fifo = append(c.fifo[:0:0], c.fifo[c.head:]...)
		c.head = 0
	}
}

// dropSession forgets every response cached for a session.
func (c *requestCache) dropSession(session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count -= len(c.by[session])
	delete(c.by, session)
}

func (c *requestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}
