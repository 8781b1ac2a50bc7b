package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/promoflow/promoflow/internal/config"
)

// codecServer serves the payload codec over HTTP so the Temporal UI (its
// "codec server" setting) can show operators decrypted payloads.
func codecServer(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("codec-server")
	cfg := config.FromEnv(fs)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	origin := fs.String("cors-origin", "http://127.0.0.1:8233", "Temporal UI origin allowed to call the server")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	c, err := cfg.Codec()
	if err != nil {
		return err
	}
	if c == nil {
		return errors.New("PROMOFLOW_ENCRYPTION_KEYS is not set: payloads are not encrypted, nothing to decode")
	}
	codec := converter.NewPayloadCodecHTTPHandler(c)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", *origin)
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace")
		w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
		if r.Method == http.MethodOptions {
			return
		}
		codec.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stderr, "codec server on http://%s (set it as the codec endpoint in the Temporal UI)\n", *listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
