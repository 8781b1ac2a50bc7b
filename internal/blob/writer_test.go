package blob_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/testenv"
)

// newS3 returns a store on a fresh gateway.
func newS3(t *testing.T) *blob.S3 {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an S3 gateway")
	}
	s, err := blob.NewS3(context.Background(), blob.Config{Endpoint: testenv.StartS3(t), Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
		AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCreateStreams writes objects through Create on the real gateway and
// the in-memory store, in uneven writes: an object larger than a part is a
// multipart upload of several parts, a small one a single PUT, an aborted
// one leaves nothing; each reads back the bytes written.
func TestCreateStreams(t *testing.T) {
	ctx := context.Background()
	s3 := newS3(t)
	s3.SetStreamPart(5 << 20)
	data := make([]byte, 13<<20+12345) // three parts: 5, 5 and the rest
	rand.NewChaCha8([32]byte{2}).Read(data)
	for _, st := range []struct {
		name  string
		store interface {
			Create(ctx context.Context, key string) (blob.Writer, error)
			Get(ctx context.Context, key string) ([]byte, error)
			Exists(ctx context.Context, key string) (bool, error)
		}
		parts int // of the large object; -1: not counted
	}{{"s3", s3, 3}, {"mem", blob.NewMem(), -1}} {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range []struct {
				key   string
				data  []byte
				parts int
			}{{"out/big.bin", data, st.parts}, {"out/small.csv", data[:1000], 0}, {"out/empty", nil, 0}} {
				w, err := st.store.Create(ctx, tc.key)
				if err != nil {
					t.Fatal(err)
				}
				rest := tc.data
				for i := 1; len(rest) > 0; i++ {
					n := min(len(rest), i*7919) // writes of growing, odd sizes
					if _, err := w.Write(rest[:n]); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				if ex, _ := st.store.Exists(ctx, tc.key); ex {
					t.Errorf("%s exists before Close", tc.key)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				w.Abort() // a no-op after Close
				if p, ok := w.(interface{ Parts() int }); ok && tc.parts >= 0 && p.Parts() != tc.parts {
					t.Errorf("%s: %d parts, want %d", tc.key, p.Parts(), tc.parts)
				}
				got, err := st.store.Get(ctx, tc.key)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.data) {
					t.Errorf("%s: read back %d bytes, not the %d written", tc.key, len(got), len(tc.data))
				}
			}
			// Aborted after a part was sent: no object.
			w, err := st.store.Create(ctx, "out/aborted")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data[:11<<20]); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			if err := w.Close(); err != nil {
				t.Logf("close after abort: %v", err)
			}
			if ex, err := st.store.Exists(ctx, "out/aborted"); err != nil || ex {
				t.Errorf("aborted object exists: %v %v", ex, err)
			}
		})
	}
}
