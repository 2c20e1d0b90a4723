package worker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// members makes n member ids the way stores make them (hex), from seed.
func members(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
	}
	return out
}

func loads(owners []string) map[string]int {
	l := map[string]int{}
	for _, o := range owners {
		l[o]++
	}
	return l
}

func TestAssignmentIsBalancedWithinOneShard(t *testing.T) {
	for _, shards := range []int{1, 7, 8, 64, 100, 256} {
		for m := 1; m <= 20; m++ {
			ms := members(uint64(shards*100+m), m)
			owners := assign(shards, ms)
			if len(owners) != shards {
				t.Fatalf("%d shards, %d members: %d owners", shards, m, len(owners))
			}
			l := loads(owners)
			if _, ok := l[""]; ok {
				t.Fatalf("%d shards, %d members: a shard without owner", shards, m)
			}
			for _, id := range ms {
				if n := l[id]; n < shards/m || n > (shards+m-1)/m {
					t.Fatalf("%d shards, %d members: a member owns %d, want %d or %d", shards, m, n, shards/m, (shards+m-1)/m)
				}
			}
		}
	}
	if assign(8, nil) != nil {
		t.Error("no members, yet owners")
	}
}

func TestAssignmentIsTheSameWhateverTheOrderOfMembers(t *testing.T) {
	ms := members(1, 5)
	want := assign(64, ms)
	for i := range 20 {
		shuffled := slices.Clone(ms)
		rand.New(rand.NewPCG(uint64(i), 2)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		shuffled = append(shuffled, shuffled[0]) // a member listed twice is one member
		if got := assign(64, shuffled); !slices.Equal(got, want) {
			t.Fatalf("order %v: another assignment", shuffled)
		}
	}
}

// moves counts the shards whose owner differs between a and b.
func moves(a, b []string) int {
	n := 0
	for s := range a {
		if a[s] != b[s] {
			n++
		}
	}
	return n
}

// A member joining takes its share: the shards it gets move, and few others (the cap
// moves some to keep every member within one shard of the others). A modulo placement
// (shard mod members) would move most shards at every change.
func TestAJoinOrALeaveMovesLittleMoreThanTheShareThatMustMove(t *testing.T) {
	for _, shards := range []int{8, 64, 256} {
		total, totalShare := 0, 0
		for m := 1; m <= 10; m++ {
			for trial := range 30 {
				ms := members(uint64(shards*1000+m*50+trial), m+1)
				before, joiner := ms[:m], ms[m]
				a, b := assign(shards, before), assign(shards, ms)
				share := loads(b)[joiner]
				moved := moves(a, b)
				if moved < share || moved > 2*share+shards/(m+1)+1 {
					t.Fatalf("%d shards, %d+1 members: %d moved, the joiner's share is %d", shards, m, moved, share)
				}
				// a leave is the same change backwards
				if back := moves(b, a); back != moved {
					t.Fatalf("leave moved %d, join %d", back, moved)
				}
				total, totalShare = total+moved, totalShare+share
			}
		}
		t.Logf("%d shards: %d moves for shares of %d in all (%.0f%% more)", shards, total, totalShare, 100*float64(total-totalShare)/float64(totalShare))
		if shards >= 64 && total > totalShare*13/10 {
			t.Errorf("%d shards: %d moves for shares of %d: more than 30%% beyond what must move", shards, total, totalShare)
		}
	}
}
