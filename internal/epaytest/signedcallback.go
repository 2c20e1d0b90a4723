package epaytest

// SignedCallback renders, without sending it, the body ePay would POST for opts'
// invoice: a success when reasonCode is 0, otherwise a failure with that reason code.
// It is signed like Trigger's (opts.Keys, a spoiled secret_hash with WrongHash) and
// returns ePay's transaction id with the body. Load generators use it so that what
// they send has exactly the shape Trigger and the sandbox send; URL, Duplicates,
// OutOfOrder and Client are ignored, and opts is not validated (Trigger's job).
func SignedCallback(opts TriggerOptions, reasonCode int) (transactionID string, body []byte) {
	o := opts.withDefaults()
	t := o.Transaction(reasonCode)
	return t.ID, t.Body(o.secretHash())
}
