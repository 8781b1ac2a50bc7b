package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/promoflow/promoflow/internal/codec"
)

// TestCodecServerCommand runs `starter codec-server` with a token and
// calls it as the Temporal UI would: a preflight, a decode without the
// token, a decode with it; and checks that it will not listen beyond
// loopback without a token.
func TestCodecServerCommand(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Setenv("PROMOFLOW_ENCRYPTION_KEYS", "k1:"+key)
	t.Setenv("PROMOFLOW_CODEC_TOKEN", "")
	var stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"codec-server", "--listen", ":0"}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "set PROMOFLOW_CODEC_TOKEN") {
		t.Errorf("listen on all interfaces without a token: exit %d, %q; want 1 asking for PROMOFLOW_CODEC_TOKEN", code, stderr.String())
	}

	const token = "tok-123"
	t.Setenv("PROMOFLOW_CODEC_TOKEN", token)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- dispatch(ctx, []string{"codec-server", "--listen", "127.0.0.1:0", "--cors-origin", "https://ui.example"}, io.Discard, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("codec server said %q: %v", line, err)
	}
	go io.Copy(io.Discard, pr)
	url, _, _ := strings.Cut(strings.TrimPrefix(line, "codec server on "), ",")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(line, "bearer token required") {
		t.Fatalf("start line %q", line)
	}

	keys, _ := codec.ParseKeys("k1:" + key)
	enc, err := codec.New(keys).Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"weekly-1"`)}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	for _, tc := range []struct {
		name, method, auth string
		code               int
		body               string
	}{
		{"preflight", "OPTIONS", "", 204, ""},
		{"no token", "POST", "", 401, "unauthorized"},
		{"token", "POST", "Bearer " + token, 200, base64.StdEncoding.EncodeToString([]byte(`"weekly-1"`))},
	} {
		req, _ := http.NewRequest(tc.method, url+"/decode", bytes.NewReader(body))
		req.Header.Set("Origin", "https://ui.example")
		req.Header.Set("Content-Type", "application/json")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(got), tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, resp.StatusCode, got, tc.code, tc.body)
		}
		if h := resp.Header; h.Get("Access-Control-Allow-Origin") != "https://ui.example" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("%s: CORS headers %v", tc.name, h)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("codec server exit %d after its context ended, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("codec server did not stop")
	}
}

func TestLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8081": true, "localhost:8081": true, "[::1]:8081": true,
		":8081": false, "0.0.0.0:8081": false, "10.0.0.5:8081": false, "codec.example:8081": false, "nonsense": false,
	} {
		if got := loopbackListen(addr); got != want {
			t.Errorf("loopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
}
