package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/promoflow/promoflow/internal/codec"
	"github.com/promoflow/promoflow/internal/config"
)

// codecServer serves the payload codec over HTTP so the Temporal UI (its
// "codec server" setting) and the Temporal CLI (--codec-endpoint) can show
// operators decrypted payloads. With PROMOFLOW_CODEC_TOKEN set, every
// request must carry it as a bearer token; without it, the server only
// listens on loopback.
func codecServer(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("codec-server")
	cfg := config.FromEnv(fs)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on; beyond loopback only with $PROMOFLOW_CODEC_TOKEN set")
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
	token := cfg.CodecToken()
	if token == "" && !loopbackListen(*listen) {
		return fmt.Errorf("--listen %s is reachable beyond this machine: set PROMOFLOW_CODEC_TOKEN (callers send Authorization: Bearer <token>) or listen on 127.0.0.1", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: c.HTTPHandler(codec.HTTPOptions{Origin: *origin, Token: token}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	auth := "no authentication (loopback only)"
	if token != "" {
		auth = "bearer token required (PROMOFLOW_CODEC_TOKEN)"
	}
	fmt.Fprintf(stderr, "codec server on http://%s, %s; set it as the codec endpoint in the Temporal UI\n", ln.Addr(), auth)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopbackListen reports whether a listen address (host:port) only
// accepts connections from this machine; an empty host listens on all
// interfaces.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
