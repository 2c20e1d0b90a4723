package chaos

import (
	"strconv"
	"testing"
)

// catalogue is every message FuzzApplyAgreesWithTheOracle picks from: invoice.created,
// callbacks of three transactions in each variant the oracle knows (paid, a mismatched
// amount, unverified, final and not-final failures, unverified failures) and status
// answers of every kind, some about another amount.
func catalogue(id string) []inboxMsg {
	msgs := []inboxMsg{{ID: id, InvoiceID: id, Kind: kindCreated, Amount: 1000, Currency: "KZT", Terminal: "term"}}
	for _, tx := range []string{"txa", "txb", "txc"} {
		for v := range 7 {
			m := inboxMsg{InvoiceID: id, Kind: kindSuccess, TxID: tx, Amount: 1000, Currency: "KZT", Terminal: "term", Verified: true}
			switch v {
			case 1:
				m.Kind, m.ReasonCode = kindFailure, 484
			case 2:
				m.Amount = 999
			case 3:
				m.Verified = false
			case 4:
				m.Kind, m.Amount, m.ReasonCode = kindFailure, 5, 455
			case 5:
				m.Kind, m.ReasonCode = kindFailure, 454 // not final
			case 6:
				m.Kind, m.ReasonCode, m.Verified = kindFailure, 484, false
			}
			m.ID = "cb:" + id + ":" + tx + ":" + map[msgKind]string{kindSuccess: "ok", kindFailure: "error"}[m.Kind] + ":" + strconv.Itoa(v)
			msgs = append(msgs, m)
		}
	}
	statuses := []struct{ code, name string }{{"100", "CHARGE"}, {"100", "AUTH"}, {"100", "REJECT"}, {"101", "REJECT"},
		{"102", ""}, {"107", ""}, {"100", "3D"}, {"100", "REFUND"}, {"100", "CANCEL"}, {"100", "ODD"}, {"100", ""},
		{"104", ""}, {"", ""}}
	for i, s := range statuses {
		for _, tx := range []string{"txa", "txb"} {
			for v := range 3 {
				m := inboxMsg{InvoiceID: id, Kind: kindStatus, Check: i + 1, ResultCode: s.code, StatusName: s.name, TxID: tx,
					Amount: 1000, Currency: "KZT", Terminal: "term", GiveUp: v == 2 || s.code == ""}
				if v == 1 {
					m.Amount, m.ReasonCode = 998, 454
				}
				m.ID = "st:" + id + ":" + strconv.Itoa(m.Check) + ":" + s.code + ":" + s.name + ":" + tx + ":" + strconv.Itoa(v)
				msgs = append(msgs, m)
			}
		}
	}
	// a verified failure whose reason code is 0 (ePay's "success"; null or missing reads
	// as 0): appended, so that the picks of the seeds above keep their messages
	for _, tx := range []string{"txa", "txb", "txc"} {
		msgs = append(msgs, inboxMsg{ID: "cb:" + id + ":" + tx + ":error:7", InvoiceID: id, Kind: kindFailure, TxID: tx, Amount: 1000,
			Currency: "KZT", Terminal: "term", Verified: true})
	}
	return msgs
}

// FuzzApplyAgreesWithTheOracle: any sequence of inbox messages (a byte picks each one
// from the catalogue; duplicates, late invoice.created and status answers included)
// ends in the same state, version, events and claim under invoice.Apply as under the
// oracle written from the documents, with confirmation on and without an ePay client.
func FuzzApplyAgreesWithTheOracle(f *testing.F) {
	const id = "900000002"
	msgs := catalogue(id)
	f.Add([]byte{0, 1}, false)
	f.Add([]byte{1, 0, 1, 3}, true)
	f.Add([]byte{0, 2, 8, 9, 22, 30}, true)
	f.Add([]byte{5, 0, 1, 44, 50, 60, 70}, true)
	f.Add([]byte{0, 3, 1, 15, 16}, false)
	f.Add([]byte{0, 100, 22}, true) // a failure with reason 0 asked about, then ePay's CHARGE
	f.Fuzz(func(t *testing.T, picks []byte, confirm bool) {
		if len(picks) > 64 {
			return
		}
		seq := make([]inboxMsg, 0, len(picks))
		for _, b := range picks {
			m := msgs[int(b)%len(msgs)]
			if m.Kind == kindStatus && !confirm {
				continue // only a worker with an ePay client publishes status answers
			}
			seq = append(seq, m)
		}
		agree(t, "picks "+strconv.Quote(string(picks)), id, confirm, seq)
	})
}
