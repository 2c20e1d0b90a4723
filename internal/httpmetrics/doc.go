// Package httpmetrics counts and times the requests of an epayflow HTTP server by route:
// the rate, errors and duration (RED) of each route, with client_golang's promhttp
// instrumentation.
//
// The route label is the http.ServeMux pattern that served the request ("POST
// /v1/payments", "GET /v1/invoices/{invoiceId}"), never the request's path, so no
// invoice id or other request data becomes a label value; requests no pattern matches
// (the mux's 404 and 405) share the route "unmatched". Routes registered on the mux
// directly, not through Routes.Handle, are not counted: that is how the probes
// (/livez, /readyz) and /metrics stay out of the request ratios the alerts compute.
package httpmetrics
