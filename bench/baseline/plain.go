package baseline

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// PlainHTTP serves, on addr until ctx ends, a handler that reads the body and answers
// 200 "OK". onListen gets the base URL once the listener is bound.
func PlainHTTP(ctx context.Context, addr string, onListen func(string)) error {
	return serve(ctx, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("OK"))
	}), onListen)
}

func serve(ctx context.Context, addr string, h http.Handler, onListen func(string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if onListen != nil {
		onListen("http://" + l.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}
