package codec

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
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
	srv := httptest.NewServer(converter.NewPayloadCodecHTTPHandler(c))
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
