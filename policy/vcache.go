package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// flatCache is the cache of evaluated rules (topdown.VirtualCache) of one
// evaluation. OPA's default cache is a trie keyed by the terms of the rule
// reference, with a hash map per level, allocated afresh for every
// evaluation; a decision looks up or stores a handful of rules, for which
// hashing each term of data.patronfed.access.<rule> on every lookup and
// allocating the trie cost more than comparing the references in a short
// list (the terms of references to rules are mostly shared, so comparing
// them is mostly comparing pointers). Caches are pooled and reset between
// evaluations. Past maxFlat entries in a frame (a large uploaded bundle),
// the cache hands over to OPA's.
type flatCache struct {
	frames   [][]flatEntry
	fallback topdown.VirtualCache
	// refs holds the copies of the references of the entries; it is reused
	// by the next evaluation (reset keeps its capacity).
	refs []*ast.Term
}

type flatEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

const maxFlat = 32

func newFlatCache() *flatCache {
	return &flatCache{frames: [][]flatEntry{make([]flatEntry, 0, maxFlat)}, refs: make([]*ast.Term, 0, 256)}
}

// reset empties the cache for the next evaluation.
func (c *flatCache) reset() {
	for i := range c.frames {
		clear(c.frames[i])
		c.frames[i] = c.frames[i][:0]
	}
	c.frames = c.frames[:1]
	c.fallback = nil
	clear(c.refs)
	c.refs = c.refs[:0]
	if cap(c.refs) > maxRefs {
		c.refs = nil // a large bundle's: not kept in the pool
	}
}

const maxRefs = 4096

func (c *flatCache) Push() {
	if c.fallback != nil {
		c.fallback.Push()
		return
	}
	if len(c.frames) < cap(c.frames) {
		c.frames = c.frames[:len(c.frames)+1] // reuse the frame popped last
		return
	}
	c.frames = append(c.frames, nil)
}

func (c *flatCache) Pop() {
	if c.fallback != nil {
		c.fallback.Pop()
		return
	}
	top := len(c.frames) - 1
	clear(c.frames[top])
	c.frames[top] = c.frames[top][:0]
	c.frames = c.frames[:top]
}

func (c *flatCache) find(ref ast.Ref) *flatEntry {
	frame := c.frames[len(c.frames)-1]
	for i := range frame {
		if frame[i].ref.Equal(ref) {
			return &frame[i]
		}
	}
	return nil
}

func (c *flatCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if c.fallback != nil {
		return c.fallback.Get(ref)
	}
	e := c.find(ref)
	if e == nil {
		return nil, false
	}
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

func (c *flatCache) Put(ref ast.Ref, value *ast.Term) {
	if c.fallback != nil {
		c.fallback.Put(ref, value)
		return
	}
	e := c.find(ref)
	if e == nil {
		top := len(c.frames) - 1
		if len(c.frames[top]) == maxFlat {
			c.overflow()
			c.fallback.Put(ref, value)
			return
		}
		// The caller may reuse the slice behind ref (it is a prefix of the
		// reference being evaluated), so the cache keeps its own copy, in
		// refs. (When refs grows, the copies made so far stay where they
		// are.)
		n := len(c.refs)
		c.refs = append(c.refs, ref...)
		c.frames[top] = append(c.frames[top], flatEntry{ref: ast.Ref(c.refs[n:len(c.refs):len(c.refs)])})
		e = &c.frames[top][len(c.frames[top])-1]
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// overflow moves every frame into OPA's cache.
func (c *flatCache) overflow() {
	vc := topdown.NewVirtualCache()
	for i, frame := range c.frames {
		if i > 0 {
			vc.Push()
		}
		for _, e := range frame {
			if e.undefined {
				vc.Put(e.ref, nil)
			}
			if e.value != nil {
				vc.Put(e.ref, e.value)
			}
		}
	}
	c.fallback = vc
}

func (c *flatCache) Keys() []ast.Ref {
	if c.fallback != nil {
		return c.fallback.Keys()
	}
	var keys []ast.Ref
	for _, e := range c.frames[len(c.frames)-1] {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
