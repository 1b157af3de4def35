// Package pagemarks remembers where recently served list pages ended, so
// that a store can read the next page by seeking past the last row served
// instead of skipping rows with an OFFSET: the mechanism both stores use
// for paging at a flat cost per page. What a store keeps as the state the
// page was read at (SQLite's wal-index version, PostgreSQL's snapshot) is
// its own, the type V.
package pagemarks

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
)

// DefaultMax bounds the marks a store keeps: each is a few hundred bytes.
const DefaultMax = 4096

// Key names a served page: its query, size and number.
type Key struct {
	Query        string
	Size, Number int
}

// Mark is where a served page ended: the values of its last row in the
// list's order columns, the total the page gave, and the state of the
// database the page was read at.
type Mark[V any] struct {
	Key   Key
	Last  []any
	Total int
	At    V
}

// Marks keeps at most a bound of marks, the least recently used going
// first. It is safe for concurrent use.
type Marks[V any] struct {
	mu    sync.Mutex
	byKey map[Key]*list.Element // of *Mark[V]
	lru   *list.List            // most recently used first
	max   int
}

// New returns an empty set of at most max marks.
func New[V any](max int) *Marks[V] {
	return &Marks[V]{byKey: map[Key]*list.Element{}, lru: list.New(), max: max}
}

// Get returns the mark of a served page, if remembered.
func (m *Marks[V]) Get(k Key) (Mark[V], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byKey[k]
	if !ok {
		return Mark[V]{}, false
	}
	m.lru.MoveToFront(e)
	return *e.Value.(*Mark[V]), true
}

// Put remembers where a served page ended.
func (m *Marks[V]) Put(mk Mark[V]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[mk.Key]; ok {
		*e.Value.(*Mark[V]) = mk
		m.lru.MoveToFront(e)
		return
	}
	m.byKey[mk.Key] = m.lru.PushFront(&mk)
	for m.lru.Len() > m.max {
		old := m.lru.Back()
		m.lru.Remove(old)
		delete(m.byKey, old.Value.(*Mark[V]).Key)
	}
}

// Len is how many marks are kept.
func (m *Marks[V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Clear forgets every mark.
func (m *Marks[V]) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.byKey)
	m.lru.Init()
}

// QueryKey identifies a list query: what it lists and its filter, with
// each argument's type and value.
func QueryKey(op, where string, args []any) string {
	var b strings.Builder
	b.WriteString(op)
	b.WriteByte('|')
	b.WriteString(where)
	for _, a := range args {
		fmt.Fprintf(&b, "|%T:%q", a, fmt.Sprint(a))
	}
	return b.String()
}
