package sqlite

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/roomsd/roomsd/internal/store/pagemarks"
)

// Paging at a flat cost. A list page is found by its number: page N is
// the rows after the first (N-1)×size in the list's order, which an
// OFFSET finds by walking past them, so a client that pages through a
// list (the SDKs' auto-pagers) pays for every row before each page, and
// the whole walk grows with the square of the list's length.
//
// The pager remembers where recently served pages ended: for each list
// query (its filters), page size and page number, the sort key of the
// page's last row, the total, and the database version it was read at.
// Page N+1 of a query whose page N it remembers is read by seeking past
// that key in the list's index (a range scan of one page), not by
// skipping rows. If the database has not changed since page N was read,
// that is exactly the page the OFFSET would give, and the total is reused
// rather than counted again. If it has changed, the page still follows on
// from page N: rows created since (they sort before it, newest first) are
// not shown, rows deleted do not shift later rows onto pages already
// served, so an iteration shows no row twice and skips no row that
// existed throughout; the total is counted again. A page whose previous
// page it does not remember (a jump, another server, an evicted mark) is
// read with an OFFSET, as before.
type pager struct {
	versions *pageCache // reads the database version
	marks    *pagemarks.Marks[dbVersion]

	// For tests and measurements: pages read by seeking, pages read with
	// an OFFSET, and the rows those OFFSETs skipped.
	seeks, offsets, skipped atomic.Int64
}

func newPager(versions *pageCache) *pager {
	return &pager{versions: versions, marks: pagemarks.New[dbVersion](pagemarks.DefaultMax)}
}

// version reads the database's version; ok is false while a commit is
// being published (then nothing is remembered or reused).
func (pg *pager) version(ctx context.Context) (v dbVersion, ok bool, err error) {
	return pg.versions.currentVersion(ctx)
}

// order is a list's order: its columns, every one descending, the last
// unique, so that a row's values in them place it exactly.
type order []string

// sql is the ORDER BY clause, each column qualified by prefix ("" or
// "r.").
func (o order) sql(prefix string) string {
	cols := make([]string, len(o))
	for i, c := range o {
		cols[i] = prefix + c + " DESC"
	}
	return strings.Join(cols, ", ")
}

// seekWhere is a filter as a seek needs it: without its upper bound on
// the first order column, which the seek's own bound implies (the last
// row served matched it), so that the planner starts the range where the
// last page ended rather than at the filter's bound.
func (o order) seekWhere(w where) where { return w.without(o[0] + " < ?") }

// after is the condition that a row sorts after (below) a row with the
// given values: a row value comparison, which SQLite answers with a range
// scan of an index in this order.
func (o order) after() string {
	qs := strings.Repeat("?, ", len(o))
	return "(" + strings.Join(o, ", ") + ") < (" + qs[:len(qs)-2] + ")"
}
