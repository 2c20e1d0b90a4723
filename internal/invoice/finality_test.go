package invoice

// finalityCases are the table's cells for ePay's final and not-final outcomes: the new
// columns (a not-final failure, status answers that are not final, the checker giving
// up, answers that are final but not a payment) over every state, and the rows of an
// invoice waiting on a not-final failure or on an unverified claim over every column.
func finalityCases(paid, failed, review []EventType) map[string]map[string]cell {
	newColumns := []string{"failure not final", "status in progress", "status new", "status rejected not final",
		"status not found give up", "status in progress give up", "status unanswered give up", "status refund",
		"status unknown name", "status no transaction", "status partial refund"}
	all := func(c cell, except map[string]cell) map[string]cell {
		row := map[string]cell{}
		for _, name := range newColumns {
			row[name] = c
		}
		for name, c := range except {
			row[name] = c
		}
		return row
	}
	statusErr := cell{err: ErrInvalid}
	return map[string]map[string]cell{
		"unknown":   all(statusErr, map[string]cell{"failure not final": {state: StateUnmatched}}),
		"unmatched": all(cell{state: StateUnmatched}, nil),
		"created": all(cell{state: StateCreated}, map[string]cell{ // no claim: history only, the reconciler asks again
			"failure not final":     {state: StateCreated, pending: true},
			"status partial refund": {state: StatePaid, events: paid},
		}),
		"paid": all(cell{state: StatePaid}, nil),
		"failed": all(cell{state: StateFailed}, map[string]cell{
			"status partial refund": {state: StatePaid, events: paid},
		}),
		"review": all(cell{state: StateReview}, map[string]cell{
			"status partial refund": {state: StatePaid, events: paid},
		}),
		"confirming": all(cell{state: StateCreated, pending: true}, map[string]cell{
			"status not found give up":   {state: StateReview, events: review, reason: "no final answer from ePay in time: 102"},
			"status in progress give up": {state: StateReview, events: review, reason: "no final answer from ePay in time: 107"},
			"status unanswered give up":  {state: StateReview, events: review, reason: "no answer (epay: unavailable)"},
			"status refund":              {state: StateReview, events: review, reason: "not confirmed: ePay status says 100 REFUND"},
			"status unknown name":        {state: StateReview, events: review, reason: "not confirmed: ePay status says 100 SETTLED"},
			"status no transaction":      {state: StateReview, events: review, reason: "not confirmed: ePay status says 100"},
			"status partial refund":      {state: StatePaid, events: paid},
		}),
		"not final": {
			"created":                    {state: StateCreated, err: ErrDuplicate, pending: true},
			"duplicate":                  {state: StateCreated, err: ErrDuplicate, pending: true},
			"success":                    {state: StatePaid, events: paid},
			"success same tx":            {state: StatePaid, events: paid},
			"success amount":             {state: StateReview, events: review, reason: "amount"},
			"success currency":           {state: StateReview, events: review, reason: "currency"},
			"success terminal":           {state: StateReview, events: review, reason: "terminal"},
			"success unverified":         {state: StateCreated, pending: true},
			"failure":                    {state: StateFailed, events: failed, pending: true}, // a final failure; ePay is still asked
			"failure not final":          {state: StateCreated, pending: true},
			"success confirm":            {state: StateCreated, pending: true},
			"success unverified confirm": {state: StateCreated, pending: true},
			"success amount confirm":     {state: StateReview, events: review, reason: "amount"},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview, events: review, reason: "mismatch: amount"},
			"status rejected":            {state: StateFailed, events: failed}, // ePay's final word
			"status not found":           {state: StateCreated, pending: true},
			"status in progress":         {state: StateCreated, pending: true},
			"status new":                 {state: StateCreated, pending: true},
			"status rejected not final":  {state: StateCreated, pending: true},
			"status not found give up":   {state: StateReview, events: review, reason: "no final answer from ePay in time: 102"},
			"status in progress give up": {state: StateReview, events: review, reason: "no final answer from ePay in time: 107"},
			"status unanswered give up":  {state: StateReview, events: review, reason: "no final answer from ePay in time: no answer"},
			"status refund":              {state: StateReview, events: review, reason: "not confirmed: ePay status says 100 REFUND"},
			"status unknown name":        {state: StateReview, events: review, reason: "100 SETTLED"},
			"status no transaction":      {state: StateReview, events: review, reason: "not confirmed: ePay status says 100"},
			"status partial refund":      {state: StatePaid, events: paid},
		},
		// An unverified success only made the worker ask: the answer alone decides, and
		// one that is not final (or none) never sends the invoice to review.
		"confirming unverified": {
			"created":                    {state: StateCreated, err: ErrDuplicate, pending: true},
			"duplicate":                  {state: StateCreated, err: ErrDuplicate, pending: true},
			"success":                    {state: StatePaid, events: paid},
			"success same tx":            {state: StatePaid, events: paid},
			"success amount":             {state: StateReview, events: review, reason: "amount"},
			"success currency":           {state: StateReview, events: review, reason: "currency"},
			"success terminal":           {state: StateReview, events: review, reason: "terminal"},
			"success unverified":         {state: StateCreated, pending: true},
			"failure":                    {state: StateFailed, events: failed, pending: true},
			"failure not final":          {state: StateCreated, pending: true},
			"success confirm":            {state: StateCreated, pending: true},
			"success unverified confirm": {state: StateCreated, pending: true},
			"success amount confirm":     {state: StateReview, events: review, reason: "amount"},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview, events: review, reason: "mismatch: amount"},
			"status rejected":            {state: StateFailed, events: failed},
			"status not found":           {state: StateCreated, pending: true},
			"status in progress":         {state: StateCreated, pending: true},
			"status new":                 {state: StateCreated, pending: true},
			"status rejected not final":  {state: StateCreated, pending: true},
			"status not found give up":   {state: StateCreated},
			"status in progress give up": {state: StateCreated},
			"status unanswered give up":  {state: StateCreated},
			"status refund":              {state: StateCreated},
			"status unknown name":        {state: StateCreated},
			"status no transaction":      {state: StateCreated},
			"status partial refund":      {state: StatePaid, events: paid},
		},
	}
}
