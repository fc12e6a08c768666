package rpc

import (
	"crypto/sha256"
	"sync"
	"time"
)

// requestCache remembers serialised responses so that a retransmitted
// request is answered without running it again (KMS's duplicate-request
// cache).
//
// It is built to cost the garbage collector nothing at high request rates
// (10k requests/s × a 20 s TTL is 200k entries): keys are 128-bit digests,
// slots are plain values, and response bytes are appended to a log of
// 1 MiB chunks, so the map and the FIFO hold no pointers and are never
// scanned, and growing never copies. Entries expire in insertion order
// (the TTL is fixed) and free whole chunks behind them; when the log holds
// maxChunks the oldest chunk is evicted early, which bounds memory. A
// session's entries are dropped in O(1) by bumping its generation, which
// is part of every key.
type requestCache struct {
	ttl       time.Duration
	maxChunks int

	mu     sync.Mutex
	slots  map[cacheKey]cacheSlot
	fifo   []cacheRef // in insertion (= expiry = position) order, from head
	head   int
	gens   map[string]uint64 // session → generation
	nextG  uint64
	chunks [][]byte // chunks[i] holds positions [(first+i)·chunkSize, (first+i+1)·chunkSize)
	first  uint64
	spare  [][]byte
	wpos   uint64 // absolute position of the next write
	tail   uint64 // absolute position of the oldest live byte
}

const (
	cacheChunk         = 1 << 20
	defaultCacheChunks = 64 // 64 MiB of responses at most
	maxSpareChunks     = 4
)

type cacheKey [16]byte

type cacheSlot struct {
	pos     uint64 // absolute position of the response in the ring stream
	n       uint32
	code    int32
	expires int64 // unix nanoseconds
}

type cacheRef struct {
	key     cacheKey
	pos     uint64
	n       uint32
	expires int64
}

// cacheEntry is what a hit returns.
type cacheEntry struct {
	resp []byte
	code int // the response's error code, 0 for a result (metrics)
}

func newRequestCache(ttl time.Duration) *requestCache {
	return &requestCache{ttl: ttl, maxChunks: defaultCacheChunks,
		slots: map[cacheKey]cacheSlot{}, gens: map[string]uint64{}}
}

// key digests the session's generation with the request's identity.
func (c *requestCache) keyLocked(session, reqKey string) cacheKey {
	g, ok := c.gens[session]
	if !ok {
		c.nextG++
		g = c.nextG
		c.gens[session] = g
	}
	h := sha256.New()
	var gb [8]byte
	for i := range gb {
		gb[i] = byte(g >> (8 * i))
	}
	h.Write(gb[:])
	h.Write([]byte(session))
	h.Write([]byte{0})
	h.Write([]byte(reqKey))
	var k cacheKey
	copy(k[:], h.Sum(nil))
	return k
}

func (c *requestCache) get(session, reqKey string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.gens[session]; !ok {
		return cacheEntry{}, false
	}
	s, ok := c.slots[c.keyLocked(session, reqKey)]
	if !ok || time.Now().UnixNano() > s.expires || s.pos < c.tail {
		return cacheEntry{}, false
	}
	return cacheEntry{resp: c.readLocked(s.pos, int(s.n)), code: int(s.code)}, true
}

func (c *requestCache) put(session, reqKey string, resp []byte, code int) {
	if c.ttl <= 0 || len(resp) > cacheChunk {
		return
	}
	exp := time.Now().Add(c.ttl).UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.keyLocked(session, reqKey)
	pos := c.writeLocked(resp)
	c.slots[k] = cacheSlot{pos: pos, n: uint32(len(resp)), code: int32(code), expires: exp}
	c.fifo = append(c.fifo, cacheRef{key: k, pos: pos, n: uint32(len(resp)), expires: exp})
}

// writeLocked appends b to the log (an entry never straddles two chunks)
// and returns its absolute position.
func (c *requestCache) writeLocked(b []byte) uint64 {
	if off := c.wpos % cacheChunk; off+uint64(len(b)) > cacheChunk {
		c.wpos += cacheChunk - off
		if c.head == len(c.fifo) {
			c.tail = c.wpos
		}
	}
	seq := c.wpos / cacheChunk
	if len(c.chunks) == 0 {
		c.first = seq
	}
	for seq >= c.first+uint64(len(c.chunks)) {
		if len(c.chunks) == c.maxChunks {
			c.evictChunkLocked()
			continue
		}
		c.chunks = append(c.chunks, c.newChunk())
	}
	pos := c.wpos
	copy(c.chunks[seq-c.first][pos%cacheChunk:], b)
	c.wpos += uint64(len(b))
	return pos
}

func (c *requestCache) newChunk() []byte {
	if n := len(c.spare); n > 0 {
		ch := c.spare[n-1]
		c.spare = c.spare[:n-1]
		return ch
	}
	return make([]byte, cacheChunk)
}

// evictChunkLocked drops the oldest chunk and every entry in it.
func (c *requestCache) evictChunkLocked() {
	end := (c.first + 1) * cacheChunk
	for c.head < len(c.fifo) && c.fifo[c.head].pos < end {
		c.popLocked()
	}
	c.tail = max(c.tail, end)
	c.freeChunksLocked()
}

// freeChunksLocked recycles chunks wholly behind the tail.
func (c *requestCache) freeChunksLocked() {
	for len(c.chunks) > 0 && (c.first+1)*cacheChunk <= c.tail {
		if len(c.spare) < maxSpareChunks {
			c.spare = append(c.spare, c.chunks[0])
		}
		c.chunks[0] = nil
		c.chunks = c.chunks[1:]
		c.first++
	}
	if len(c.chunks) == 0 {
		c.chunks = nil
		c.first = c.tail / cacheChunk
	}
}

func (c *requestCache) readLocked(pos uint64, n int) []byte {
	ch := c.chunks[pos/cacheChunk-c.first]
	off := pos % cacheChunk
	return append([]byte(nil), ch[off:off+uint64(n)]...)
}

// popLocked drops the oldest entry; the ring's live bytes then start at the
// next entry (positions grow in FIFO order).
func (c *requestCache) popLocked() {
	r := c.fifo[c.head]
	c.head++
	if s, ok := c.slots[r.key]; ok && s.pos == r.pos {
		delete(c.slots, r.key)
	}
	if c.head == len(c.fifo) {
		c.fifo, c.head = c.fifo[:0], 0
		c.tail = c.wpos
		return
	}
	c.tail = c.fifo[c.head].pos
	if c.head > 1024 && c.head > len(c.fifo)/2 {
		c.fifo = append(c.fifo[:0:0], c.fifo[c.head:]...)
		c.head = 0
	}
}

// expire drops entries older than the TTL.
func (c *requestCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now.UnixNano()
	for c.head < len(c.fifo) && c.fifo[c.head].expires < t {
		c.popLocked()
	}
	c.freeChunksLocked()
}

// dropSession makes every response cached for a session unreachable; the
// bytes go when they expire.
func (c *requestCache) dropSession(session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.gens, session)
}

// len counts live entries (for tests and metrics).
func (c *requestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots)
}
