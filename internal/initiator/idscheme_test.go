package initiator

import (
	"errors"
	"testing"

	"github.com/epayflow/epayflow/internal/invoiceid"
)

// In prod the invoiceIds carry random digits by default (ePay's P2P transfer token binds
// no invoiceId, so a shopper who could name the next invoice could pay a tenge against it
// before its buyer); elsewhere they run in order from 100000000001, as the walkthroughs
// show; INITIATOR_INVOICE_ID_RANDOM says either way, and nonsense is refused.
func TestInvoiceIDsCarryRandomDigitsInProd(t *testing.T) {
	for _, c := range []struct {
		name   string
		env    []string
		scheme invoiceid.Scheme
	}{
		{"prod", nil, invoiceid.ProdScheme()},
		{"prod, random off", []string{"INITIATOR_INVOICE_ID_RANDOM", "false"}, invoiceid.DefaultScheme()},
		{"test", []string{"EPAY_ENV", "test"}, invoiceid.DefaultScheme()},
		{"test, random on", []string{"EPAY_ENV", "test", "INITIATOR_INVOICE_ID_RANDOM", "true"}, invoiceid.ProdScheme()},
	} {
		cfg, err := ParseFlags("initiator", nil, prodEnv(t, c.env...))
		if err != nil || cfg.IDs.Scheme != c.scheme {
			t.Errorf("%s: scheme %+v, err %v; want %+v", c.name, cfg.IDs.Scheme, err, c.scheme)
		}
	}
	if _, err := ParseFlags("initiator", nil, prodEnv(t, "INITIATOR_INVOICE_ID_RANDOM", "sometimes")); !errors.Is(err, ErrConfig) {
		t.Errorf("INITIATOR_INVOICE_ID_RANDOM=sometimes: %v, want ErrConfig", err)
	}
}
