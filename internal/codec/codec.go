// Package codec encrypts Temporal payloads with AES-256-GCM, so workflow
// inputs, results and histories are unreadable to whoever runs the Temporal
// service. Keys are named; new payloads use the current key, and old ones
// stay readable while their key is configured, which allows rotation.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// Metadata of encrypted payloads.
const (
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
)

// Keys are the named AES-256 keys; Current encrypts, all decrypt.
type Keys struct {
	Current string
	byID    map[string][]byte
}

// ParseKeys reads "id:base64key,id:base64key,...": the first key is current.
// Each key must decode to 32 bytes.
func ParseKeys(spec string) (*Keys, error) {
	k := &Keys{byID: map[string][]byte{}}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("encryption key %d: want id:base64, got %d characters", i+1, len(part))
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("encryption key %q: not base64", id)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("encryption key %q: %d bytes, want 32", id, len(key))
		}
		if _, dup := k.byID[id]; dup {
			return nil, fmt.Errorf("encryption key %q given twice", id)
		}
		k.byID[id] = key
		if i == 0 {
			k.Current = id
		}
	}
	return k, nil
}

// Codec is a converter.PayloadCodec that encrypts with AES-256-GCM.
type Codec struct {
	keys *Keys
	rand io.Reader
}

// New returns a codec with keys.
func New(keys *Keys) *Codec { return &Codec{keys: keys, rand: rand.Reader} }

// DataConverter wraps the default data converter with c.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

func (c *Codec) aead(id string) (cipher.AEAD, error) {
	key, ok := c.keys.byID[id]
	if !ok {
		return nil, fmt.Errorf("codec: no encryption key %q configured", id)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Encode encrypts each payload, whole (metadata and data), with the current
// key; the key id travels in clear metadata.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	g, err := c.aead(c.keys.Current)
	if err != nil {
		return nil, err
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		nonce := make([]byte, g.NonceSize())
		if _, err := io.ReadFull(c.rand, nonce); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.keys.Current),
			},
			Data: g.Seal(nonce, nonce, plain, []byte(c.keys.Current)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads with the key they name and passes
// others through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.Metadata[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.Metadata[MetadataKeyID])
		g, err := c.aead(id)
		if err != nil {
			return nil, err
		}
		if len(p.Data) < g.NonceSize() {
			return nil, errors.New("codec: encrypted payload too short")
		}
		nonce, sealed := p.Data[:g.NonceSize()], p.Data[g.NonceSize():]
		plain, err := g.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypt with key %q: %w", id, err)
		}
		var dec commonpb.Payload
		if err := dec.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}
