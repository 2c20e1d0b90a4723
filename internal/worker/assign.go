package worker

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strconv"
)

// assign is the shard assignment every worker computes from the same member set: the
// member (by id) that owns each of shards, balanced within one shard (every member owns
// shards/len(members) or one more) and the same on every worker, whatever the order of
// members. It is rendezvous (highest random weight) hashing with a cap: each (shard,
// member) pair has a weight that depends only on the two, and the pairs are taken
// heaviest first, a shard going to the member of its pair unless the shard is taken or
// the member is full. A member joining or leaving changes the weights of its own pairs
// only, so most shards keep their owner; the cap moves a few more where needed to stay
// balanced. Ties (equal weights) are broken by member id. No members: nil.
func assign(shards int, members []string) []string {
	if len(members) == 0 || shards <= 0 {
		return nil
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	type pair struct {
		w      uint64
		shard  int
		member int // index in ms
	}
	pairs := make([]pair, 0, shards*len(ms))
	for s := range shards {
		for i, m := range ms {
			pairs = append(pairs, pair{weight(s, m), s, i})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(b.w, a.w); c != 0 {
			return c
		}
		if c := cmp.Compare(a.member, b.member); c != 0 {
			return c
		}
		return cmp.Compare(a.shard, b.shard)
	})
	floor, extra := shards/len(ms), shards%len(ms) // extra members own floor+1
	load := make([]int, len(ms))
	owner := make([]string, shards)
	left := shards
	for _, p := range pairs {
		if owner[p.shard] != "" {
			continue
		}
		switch l := load[p.member]; {
		case l < floor:
		case l == floor && extra > 0:
			extra--
		default:
			continue
		}
		load[p.member]++
		owner[p.shard] = ms[p.member]
		if left--; left == 0 {
			break
		}
	}
	return owner
}

// weight is the rendezvous weight of shard for member: FNV-1a of both, mixed by
// splitmix64's finalizer so that close inputs give unrelated weights.
func weight(shard int, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(shard)))
	z := h.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// shardsOf returns the shards owner owns in an assignment, in order.
func shardsOf(owners []string, owner string) []int {
	var out []int
	for s, o := range owners {
		if o == owner {
			out = append(out, s)
		}
	}
	return out
}
