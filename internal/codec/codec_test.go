package codec

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

type summary struct {
	RunID string
	Users int64
}

func TestRoundTripAndRotation(t *testing.T) {
	old, err := ParseKeys("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	dcOld := New(old).DataConverter()
	in := summary{RunID: "weekly-2026-W48", Users: 20000}
	p, err := dcOld.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("weekly-2026-W48")) || string(p.Metadata[MetadataKeyID]) != "k1" {
		t.Fatalf("payload not encrypted: %q", p.Data)
	}
	// After rotation k2 is current and k1 still decrypts old payloads.
	rotated, err := ParseKeys("k2:" + key(2) + ",k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	dcNew := New(rotated).DataConverter()
	var out summary
	if err := dcNew.FromPayload(p, &out); err != nil || out != in {
		t.Fatalf("old payload after rotation: %+v, %v", out, err)
	}
	p2, _ := dcNew.ToPayload(in)
	if string(p2.Metadata[MetadataKeyID]) != "k2" {
		t.Errorf("new payloads use key %q, want k2", p2.Metadata[MetadataKeyID])
	}
	// A codec without k2 cannot read new payloads, and says which key is missing.
	if err := dcOld.FromPayload(p2, &out); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("decrypt without key: err = %v", err)
	}
	// Tampering is detected.
	p2.Data[len(p2.Data)-1] ^= 1
	if err := dcNew.FromPayload(p2, &out); err == nil {
		t.Error("tampered payload decrypted")
	}
}

func TestParseKeys(t *testing.T) {
	for _, spec := range []string{"", "nokey", "k1:!!!", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "k1:" + key(1) + ",k1:" + key(2)} {
		if _, err := ParseKeys(spec); err == nil {
			t.Errorf("ParseKeys(%q) accepted", spec)
		} else if strings.Contains(err.Error(), key(1)) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
}

// TestCodecServer checks the HTTP endpoint the Temporal UI calls to show
// decoded payloads to operators.
func TestCodecServer(t *testing.T) {
	keys, _ := ParseKeys("k1:" + key(1))
	c := New(keys)
	srv := httptest.NewServer(c.HTTPHandler(HTTPOptions{Origin: "http://ui.example"}))
	defer srv.Close()
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"users":3}`)}})
	if err != nil {
		t.Fatal(err)
	}
	client := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL})
	dec, err := client.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if string(dec[0].Data) != `{"users":3}` {
		t.Errorf("decoded %q", dec[0].Data)
	}
	resp, err := http.Post(srv.URL+"/decode", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("bad request decoded with 200")
	}
}

// TestCodecServerAuth checks the bearer token and the CORS headers of the
// codec endpoint: the token is needed for every decode when set, the
// preflight passes without it (browsers send none), and every answer,
// a refusal too, lets the UI's origin send the Authorization header.
func TestCodecServerAuth(t *testing.T) {
	keys, _ := ParseKeys("k1:" + key(1))
	c := New(keys)
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"users":3}`)}})
	if err != nil {
		t.Fatal(err)
	}
	const origin, token = "https://ui.example", "s3cr3t-token"
	plain := base64.StdEncoding.EncodeToString([]byte(`{"users":3}`)) // as the decoded payload's data
	for _, tc := range []struct {
		name   string
		token  string // the server's
		method string
		auth   string // the request's Authorization header
		code   int
		body   string
	}{
		{"no token configured", "", "POST", "", 200, plain},
		{"token", token, "POST", "Bearer " + token, 200, plain},
		{"no header", token, "POST", "", 401, "unauthorized"},
		{"wrong token", token, "POST", "Bearer nope", 401, "unauthorized"},
		{"token without scheme", token, "POST", token, 401, "unauthorized"},
		{"token prefix", token, "POST", "Bearer " + token[:4], 401, "unauthorized"},
		{"preflight without token", token, "OPTIONS", "", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(c.HTTPHandler(HTTPOptions{Origin: origin, Token: tc.token}))
			defer srv.Close()
			var body bytes.Buffer
			if tc.method == "POST" {
				var err error
				if body, err = payloadsJSON(enc); err != nil {
					t.Fatal(err)
				}
			}
			req, _ := http.NewRequest(tc.method, srv.URL+"/decode", &body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", origin)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(got), tc.body) {
				t.Errorf("%d %q, want %d with %q", resp.StatusCode, got, tc.code, tc.body)
			}
			if strings.Contains(string(got), token) {
				t.Errorf("answer shows the token: %q", got)
			}
			h := resp.Header
			if h.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("CORS headers %v: want origin %s and Authorization allowed", h, origin)
			}
			if tc.code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", h)
			}
		})
	}
	// The SDK's remote codec client (the Temporal CLI's --codec-auth) with
	// the token decodes.
	srv := httptest.NewServer(c.HTTPHandler(HTTPOptions{Origin: origin, Token: token}))
	defer srv.Close()
	client := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL,
		ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }})
	dec, err := client.Decode(enc)
	if err != nil || len(dec) != 1 || string(dec[0].Data) != `{"users":3}` {
		t.Errorf("remote codec with the token: %v, %v", dec, err)
	}
}

// payloadsJSON is the body of a codec request: the payloads as the SDK's
// codec endpoint reads them.
func payloadsJSON(ps []*commonpb.Payload) (bytes.Buffer, error) {
	var b bytes.Buffer
	data, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	b.Write(data)
	return b, err
}
