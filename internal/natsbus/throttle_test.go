package natsbus

import (
	"testing"
	"time"
)

// A throttle lets the first event through, then none until its period has passed.
func TestThrottleLetsTheFirstThroughThenOnePerPeriod(t *testing.T) {
	hour := throttle{every: time.Hour}
	if !hour.ok() {
		t.Fatal("the first event was held back")
	}
	for range 2 {
		if hour.ok() {
			t.Fatal("an event within the period went through")
		}
	}
	hour.last = time.Now().Add(-time.Hour - time.Second)
	if !hour.ok() {
		t.Fatal("an event after the period was held back")
	}
	if hour.ok() {
		t.Fatal("the period did not start again")
	}
}
