package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Size returns the size of the object at key in bytes.
func (s *S3) Size(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return 0, fmt.Errorf("blob: head %s: %w", key, ErrNotFound)
		}
		return 0, fmt.Errorf("blob: head %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// OpenRange streams n bytes of the object at key from offset off, or the
// rest of it when n < 0, with one ranged GET.
func (s *S3) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if off == 0 && n < 0 {
		return s.Open(ctx, key)
	}
	rng := fmt.Sprintf("bytes=%d-", off)
	if n > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: &rng})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("blob: get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob: get %s %s: %w", key, rng, err)
	}
	return out.Body, nil
}

// Size returns the size of the object at key in bytes.
func (m *Mem) Size(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[key]
	if !ok {
		return 0, fmt.Errorf("blob: head %s: %w", key, ErrNotFound)
	}
	return int64(len(d)), nil
}

// OpenRange streams n bytes of the object at key from offset off, or the
// rest of it when n < 0.
func (m *Mem) OpenRange(_ context.Context, key string, off, n int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("blob: get %s: %w", key, ErrNotFound)
	}
	if off > int64(len(d)) {
		off = int64(len(d))
	}
	end := int64(len(d))
	if n >= 0 && off+n < end {
		end = off + n
	}
	return io.NopCloser(bytes.NewReader(append([]byte(nil), d[off:end]...))), nil
}
