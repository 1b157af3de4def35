package postgres

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Paging at a flat cost, as the SQLite store does it. Page N of a list is
// the rows after the first (N-1)×size in the list's order; an OFFSET finds
// them by walking past those rows, so a client that pages through a long
// list (the SDKs' auto-pagers) pays for every row before each page.
//
// The pager remembers where recently served pages ended: for each list
// query (its filter), page size and page number, the order values of the
// page's last row, the total, and the snapshot the page was read in. Page
// N+1 of a query whose page N it remembers is read by seeking past those
// values down the list's index, a range scan of one page. When nothing
// has changed in between, that is exactly the page an OFFSET gives. When
// rows were created or deleted meanwhile, the page still follows on from
// page N: new rows (they sort first, newest first) are not shown, deleted
// rows do not shift later rows onto pages already served, so a walk shows
// no row twice and skips no row that existed throughout. A page whose
// previous page is not remembered (a jump, another roomsd process, an
// evicted mark) is read with an OFFSET.
//
// The total. SQLite's wal-index tells in nanoseconds whether the database
// changed; PostgreSQL has no such counter, but every statement reads a
// snapshot, and pg_current_snapshot() names it: the oldest transaction
// still running, the next transaction id to be handed out, and those in
// between still running. Two snapshots that read the same are the same
// committed state, since any transaction that committed in between either
// ran at the first (and is listed there, not at the second) or started
// after it (and moved the next id on). A seek page is read without its
// count and with its snapshot: if that is the snapshot of page N, the
// total of page N stands; otherwise a second statement counts. Any write
// in the cluster, other databases' included, changes the snapshot, so on
// a busy server most seek pages count; they never serve a stale total.
// The unfiltered room total comes from the counter rows and is cheap:
// every page of it is counted in its own statement.
type pager struct {
	mu    sync.Mutex
	marks map[markKey]*list.Element // of *mark
	lru   *list.List                // most recently used first
	max   int

	// For tests: pages read by seeking and pages read with an OFFSET.
	seeks, offsets atomic.Int64
}

// maxMarks bounds the marks kept: each is a few hundred bytes.
const maxMarks = 4096

// markKey names a served page: its query, size and number.
type markKey struct {
	query        string
	size, number int
}

// mark is where a served page ended.
type mark struct {
	key      markKey
	last     []any // the order values of its last row
	total    int
	snapshot string // pg_current_snapshot() of the statement that read it
}

func newPager() *pager {
	return &pager{marks: map[markKey]*list.Element{}, lru: list.New(), max: maxMarks}
}

// get returns the mark of a served page, if remembered.
func (pg *pager) get(k markKey) (mark, bool) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	e, ok := pg.marks[k]
	if !ok {
		return mark{}, false
	}
	pg.lru.MoveToFront(e)
	return *e.Value.(*mark), true
}

// put remembers where a served page ended.
func (pg *pager) put(m mark) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if e, ok := pg.marks[m.key]; ok {
		*e.Value.(*mark) = m
		pg.lru.MoveToFront(e)
		return
	}
	pg.marks[m.key] = pg.lru.PushFront(&m)
	for pg.lru.Len() > pg.max {
		old := pg.lru.Back()
		pg.lru.Remove(old)
		delete(pg.marks, old.Value.(*mark).key)
	}
}

// queryKey identifies a list query: what it lists and its filter, with
// each argument's type and value.
func queryKey(op, where string, args []any) string {
	var b strings.Builder
	b.WriteString(op)
	b.WriteByte('|')
	b.WriteString(where)
	for _, a := range args {
		fmt.Fprintf(&b, "|%T:%q", a, fmt.Sprint(a))
	}
	return b.String()
}
