package sandbox

// fifo is a map that keeps at most max entries and forgets the oldest insertion first.
// It is not safe for concurrent use: the store's mutex guards it.
type fifo[K comparable, V any] struct {
	max   int
	seq   uint64
	m     map[K]fifoEntry[V]
	order []fifoKey[K] // insertion order; may hold stale keys (deleted or re-inserted)
	head  int
}

type fifoEntry[V any] struct {
	v   V
	seq uint64
}

type fifoKey[K comparable] struct {
	k   K
	seq uint64
}

func newFIFO[K comparable, V any](max int) *fifo[K, V] {
	return &fifo[K, V]{max: max, m: make(map[K]fifoEntry[V])}
}

func (f *fifo[K, V]) get(k K) (V, bool) {
	e, ok := f.m[k]
	return e.v, ok
}

// put stores v under k and returns the values it had to evict to stay within max.
// Replacing an existing key keeps its place in the order.
func (f *fifo[K, V]) put(k K, v V) (evicted []V) {
	if e, ok := f.m[k]; ok {
		f.m[k] = fifoEntry[V]{v: v, seq: e.seq}
		return nil
	}
	f.seq++
	f.m[k] = fifoEntry[V]{v: v, seq: f.seq}
	f.order = append(f.order, fifoKey[K]{k: k, seq: f.seq})
	for len(f.m) > f.max {
		old := f.order[f.head]
		f.head++
		if e, ok := f.m[old.k]; ok && e.seq == old.seq {
			delete(f.m, old.k)
			evicted = append(evicted, e.v)
		}
	}
	f.compact()
	return evicted
}

func (f *fifo[K, V]) delete(k K) { delete(f.m, k) }

func (f *fifo[K, V]) len() int { return len(f.m) }

// values returns the live values, oldest first.
func (f *fifo[K, V]) values() []V {
	out := make([]V, 0, len(f.m))
	for _, o := range f.order[f.head:] {
		if e, ok := f.m[o.k]; ok && e.seq == o.seq {
			out = append(out, e.v)
		}
	}
	return out
}

// compact drops stale keys from order once they outnumber the live ones, so order
// stays O(max) however many deletes and evictions happen.
func (f *fifo[K, V]) compact() {
	if len(f.order)-f.head <= 2*len(f.m)+16 && f.head < len(f.order)/2+16 {
		return
	}
	live := make([]fifoKey[K], 0, len(f.m))
	for _, o := range f.order[f.head:] {
		if e, ok := f.m[o.k]; ok && e.seq == o.seq {
			live = append(live, o)
		}
	}
	f.order, f.head = live, 0
}
