package invoice

import "testing"

// Paid and Declined say what Verdict says, and only that.
func TestPaidAndDeclinedFollowTheVerdict(t *testing.T) {
	tests := []struct {
		s              Status
		paid, declined bool
	}{
		{Status{ResultCode: "100", StatusName: "CHARGE"}, true, false},
		{Status{ResultCode: "100", StatusName: "AUTH"}, true, false},
		{Status{ResultCode: "101", ReasonCode: 484}, false, true},
		{Status{ResultCode: "100", StatusName: "REJECT", ReasonCode: 484}, false, true},
		{Status{ResultCode: "100", StatusName: "REJECT", ReasonCode: 454}, false, false}, // not final
		{Status{ResultCode: "102"}, false, false},
		{Status{ResultCode: "100", StatusName: "REFUND"}, false, false},
		{Status{}, false, false},
	}
	for _, tc := range tests {
		if got := tc.s.Paid(); got != tc.paid {
			t.Errorf("%+v: Paid() = %v, want %v", tc.s, got, tc.paid)
		}
		if got := tc.s.Declined(); got != tc.declined {
			t.Errorf("%+v: Declined() = %v, want %v", tc.s, got, tc.declined)
		}
	}
}
