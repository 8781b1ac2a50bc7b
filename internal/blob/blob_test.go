package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/testenv"
)

// store is what both implementations offer.
type store interface {
	Put(ctx context.Context, key string, data []byte) error
	PutFile(ctx context.Context, key, path string) error
	Get(ctx context.Context, key string) ([]byte, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Exists(ctx context.Context, key string) (bool, error)
	List(ctx context.Context, prefix string) ([]string, error)
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// TestMultipartUpload uploads a file above the multipart threshold to the
// real gateway and reads back the same bytes.
func TestMultipartUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 gateway")
	}
	ctx := context.Background()
	s, err := blob.NewS3(ctx, blob.Config{Endpoint: testenv.StartS3(t), Region: testenv.DefaultRegion, Bucket: testenv.DefaultBucket,
		AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	s.SetMultipart(6<<20, 5<<20)
	data := make([]byte, 13<<20+12345) // three parts: 5, 5 and the rest
	rand.NewChaCha8([32]byte{1}).Read(data)
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile(ctx, "raw/big.bin", path); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "raw/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, not the %d uploaded", len(got), len(data))
	}
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T) store{
		"mem": func(*testing.T) store { return blob.NewMem() },
		"s3": func(t *testing.T) store {
			if testing.Short() {
				t.Skip("starts an S3 gateway")
			}
			endpoint := testenv.StartS3(t)
			s, err := blob.NewS3(ctx, blob.Config{Endpoint: endpoint, Region: testenv.DefaultRegion, Bucket: "fresh",
				AccessKey: testenv.DefaultAccessKey, SecretKey: testenv.DefaultSecretKey, PathStyle: true})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // creating an existing bucket is fine
				if err := s.EnsureBucket(ctx); err != nil {
					t.Fatal(err)
				}
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if err := s.Put(ctx, "runs/r/b.txt", []byte("bee")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "a.txt")
			if err := os.WriteFile(path, []byte("ay"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := s.PutFile(ctx, "runs/r/a.txt", path); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, "runs/other/c.txt", nil); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "runs/r/a.txt")
			if err != nil || string(got) != "ay" {
				t.Errorf("Get = %q, %v", got, err)
			}
			keys, err := s.List(ctx, "runs/r/")
			if err != nil || !reflect.DeepEqual(keys, []string{"runs/r/a.txt", "runs/r/b.txt"}) {
				t.Errorf("List = %q, %v", keys, err)
			}
			if ok, err := s.Exists(ctx, "runs/other/c.txt"); !ok || err != nil {
				t.Errorf("Exists(empty object) = %v, %v", ok, err)
			}
			if ok, err := s.Exists(ctx, "nope"); ok || err != nil {
				t.Errorf("Exists(missing) = %v, %v", ok, err)
			}
			if _, err := s.Get(ctx, "nope"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Get(missing) err = %v, want ErrNotFound", err)
			}

			// DeletePrefix: more keys than one DeleteObjects request takes,
			// and a neighbour that shares the prefix's text but not its
			// directory.
			const staged = 1003
			for i := range staged {
				if err := s.Put(ctx, fmt.Sprintf("runs/r/ingest/k%04d", i), []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Put(ctx, "runs/r/ingest-not/x", nil); err != nil {
				t.Fatal(err)
			}
			if n, err := s.DeletePrefix(ctx, "runs/r/ingest/"); n != staged || err != nil {
				t.Errorf("DeletePrefix = %d, %v; want %d", n, err, staged)
			}
			keys, err = s.List(ctx, "runs/r/")
			if want := []string{"runs/r/a.txt", "runs/r/b.txt", "runs/r/ingest-not/x"}; err != nil || !reflect.DeepEqual(keys, want) {
				t.Errorf("after DeletePrefix, List = %q, %v; want %q", keys, err, want)
			}
			if n, err := s.DeletePrefix(ctx, "runs/r/ingest/"); n != 0 || err != nil {
				t.Errorf("DeletePrefix again = %d, %v; want 0, nil", n, err)
			}
			if _, err := s.DeletePrefix(ctx, ""); err == nil || !strings.Contains(err.Error(), "empty prefix") {
				t.Errorf("DeletePrefix(\"\") err = %v, want empty prefix", err)
			}
		})
	}
}
