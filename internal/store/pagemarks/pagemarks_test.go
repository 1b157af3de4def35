package pagemarks

import "testing"

// TestBound: at most the bound of marks is kept, the least recently used
// forgotten first; a mark read is used.
func TestBound(t *testing.T) {
	m := New[int](3)
	for n := 1; n <= 4; n++ {
		m.Put(Mark[int]{Key: Key{"q", 20, n}, At: n})
	}
	if _, ok := m.Get(Key{"q", 20, 1}); ok {
		t.Error("the oldest mark is kept past the bound")
	}
	m.Get(Key{"q", 20, 2}) // used: 3 is now the least recent
	m.Put(Mark[int]{Key: Key{"q", 20, 5}})
	if _, ok := m.Get(Key{"q", 20, 3}); ok {
		t.Error("a mark used since was forgotten before one that was not")
	}
	for _, n := range []int{2, 4, 5} {
		if _, ok := m.Get(Key{"q", 20, n}); !ok {
			t.Errorf("mark %d forgotten", n)
		}
	}
	if m.Len() != 3 {
		t.Errorf("%d marks kept, want 3", m.Len())
	}
	m.Put(Mark[int]{Key: Key{"q", 20, 5}, Total: 9}) // replaced, not added
	if mk, _ := m.Get(Key{"q", 20, 5}); mk.Total != 9 || m.Len() != 3 {
		t.Errorf("replacing a mark: %+v, %d kept", mk, m.Len())
	}
	m.Clear()
	if m.Len() != 0 {
		t.Error("Clear kept marks")
	}
}

func TestQueryKeyTellsArgumentsApart(t *testing.T) {
	a := QueryKey("list", " WHERE x = ?", []any{int64(1)})
	b := QueryKey("list", " WHERE x = ?", []any{"1"})
	c := QueryKey("list", " WHERE x = ?", []any{"1|x"})
	if a == b || b == c {
		t.Errorf("keys collide: %q %q %q", a, b, c)
	}
}
