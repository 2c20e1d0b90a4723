package invoice

// trustCases are the cells of the columns of unverified callbacks (no secret_hash, or a
// wrong one: anyone could have sent them) over every state. Without a way to check them
// (no Confirm) they are history only; with one they only make the worker ask ePay, and
// never send an invoice to failed or review.
func trustCases() map[string]map[string]cell {
	// row: every column leaves the state as it is; pending says a claim waits after it
	// (the invoice's own, kept: an unverified callback never takes a claim's place)
	row := func(state State, pending bool) map[string]cell {
		return map[string]cell{
			"failure unverified":                {state: state, pending: pending},
			"failure unverified confirm":        {state: state, pending: pending},
			"success unverified amount confirm": {state: state, pending: pending},
		}
	}
	return map[string]map[string]cell{
		"unknown":   row(StateUnmatched, false),
		"unmatched": row(StateUnmatched, false),
		// created: an unverified failure with a way to check waits as not final; an
		// unverified success of another amount waits for ePay's answer, not review
		"created": {
			"failure unverified":                {state: StateCreated},
			"failure unverified confirm":        {state: StateCreated, pending: true},
			"success unverified amount confirm": {state: StateCreated, pending: true},
		},
		"paid":                  row(StatePaid, false),
		"failed":                {"failure unverified": {state: StateFailed}, "failure unverified confirm": {state: StateFailed}, "success unverified amount confirm": {state: StateFailed, pending: true}},
		"review":                {"failure unverified": {state: StateReview}, "failure unverified confirm": {state: StateReview}, "success unverified amount confirm": {state: StateReview, pending: true}},
		"confirming":            row(StateCreated, true),
		"not final":             row(StateCreated, true),
		"confirming unverified": row(StateCreated, true),
	}
}
