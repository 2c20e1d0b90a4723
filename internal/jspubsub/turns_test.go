package jspubsub

import (
	"strconv"
	"testing"
)

func TestTurnsChainOneKeyAndForgetDrainedKeys(t *testing.T) {
	open := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return false
		default:
			return true
		}
	}
	tr := newTurns(4)
	a1Prev, a1Done := tr.take("a")
	a2Prev, a2Done := tr.take("a")
	bPrev, bDone := tr.take("b")
	if a1Prev != nil || bPrev != nil {
		t.Fatal("the first message of a key waits for nothing")
	}
	if !open(a2Prev) {
		t.Fatal("the second message of a key went before the first was done")
	}
	bDone()
	if !open(a2Prev) {
		t.Fatal("another key's message released a")
	}
	a1Done()
	if open(a2Prev) {
		t.Fatal("the second message of a key still waits after the first was done")
	}
	a2Done()
	for i := range 1000 {
		_, done := tr.take(strconv.Itoa(i))
		done()
	}
	if n := len(tr.last); n > 4 {
		t.Fatalf("%d keys remembered, want at most 4", n)
	}
	if prev, done := tr.take(""); prev != nil {
		t.Fatal("a message without a key waited")
	} else {
		done()
	}
}
