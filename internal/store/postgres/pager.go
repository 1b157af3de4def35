package postgres

import (
	"sync/atomic"

	"github.com/roomsd/roomsd/internal/store/pagemarks"
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
	// marks are where served pages ended, each with the snapshot
	// (pg_current_snapshot()) of the statement that read it.
	marks *pagemarks.Marks[string]

	// For tests: pages read by seeking and pages read with an OFFSET.
	seeks, offsets atomic.Int64
}

func newPager() *pager {
	return &pager{marks: pagemarks.New[string](pagemarks.DefaultMax)}
}
