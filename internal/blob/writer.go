package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Writer streams an object to the bucket: Write buffers, Close stores the
// object, Abort discards what was written (a no-op after Close). The
// object appears whole at Close or not at all.
type Writer interface {
	io.Writer
	Close() error
	Abort()
}

// Streamed objects are uploaded in parts of defaultStreamPart, doubling
// every partsPerSize parts, so an object of any size up to about 1 TB
// fits S3's 10,000 parts while a writer holds one part in memory.
const (
	defaultStreamPart = 16 << 20
	partsPerSize      = 2000
)

// Create returns a Writer of the object at key. Up to one part it is
// stored with one PUT at Close (the same request PutFile makes); beyond,
// as a multipart upload whose parts are sent as they fill, so memory is
// one part whatever the object's size.
func (s *S3) Create(ctx context.Context, key string) (Writer, error) {
	return &s3Writer{s: s, ctx: ctx, key: key, part: s.streamPart}, nil
}

// SetStreamPart sets the first part size of Create's uploads (at least
// 5 MiB), so tests can reach the multipart path with small objects.
func (s *S3) SetStreamPart(size int64) { s.streamPart = max(size, minPartSize) }

type s3Writer struct {
	s      *S3
	ctx    context.Context
	key    string
	part   int64 // size of the next part
	buf    []byte
	upload *string // multipart upload id, once started
	done   []types.CompletedPart
	closed bool
	err    error
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("blob: write %s: closed", w.key)
	}
	n := len(p)
	for len(p) > 0 {
		room := int(w.part) - len(w.buf)
		if room <= 0 {
			if err := w.flush(); err != nil {
				w.err = err
				return n - len(p), err
			}
			continue
		}
		take := min(room, len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
	}
	return n, nil
}

// flush uploads the buffer as the next part, starting the upload at the
// first part.
func (w *s3Writer) flush() error {
	s := w.s
	if w.upload == nil {
		up, err := s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &w.key})
		if err != nil {
			return fmt.Errorf("blob: put %s: start multipart upload: %w", w.key, err)
		}
		w.upload = up.UploadId
	}
	n := int32(len(w.done) + 1)
	out, err := s.client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket: &s.bucket, Key: &w.key, UploadId: w.upload, PartNumber: aws.Int32(n),
		Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
	}, unsignedPayload)
	if err != nil {
		return fmt.Errorf("blob: put %s: part %d: %w", w.key, n, err)
	}
	w.done = append(w.done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	w.buf = w.buf[:0]
	if len(w.done)%partsPerSize == 0 {
		w.part *= 2
	}
	return nil
}

func (w *s3Writer) Close() error {
	if w.closed {
		return w.err
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.closed = true
	s := w.s
	if w.upload == nil {
		w.err = s.put(w.ctx, w.key, bytes.NewReader(w.buf), int64(len(w.buf)))
		w.buf = nil
		return w.err
	}
	if len(w.buf) > 0 {
		if w.err = w.flush(); w.err != nil {
			w.abort()
			return w.err
		}
	}
	_, err := s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &w.key, UploadId: w.upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.done},
	})
	w.buf = nil
	if err != nil {
		w.err = fmt.Errorf("blob: put %s: complete multipart upload: %w", w.key, err)
		w.abort()
	}
	return w.err
}

// Parts is the number of parts uploaded so far (0: the object is, or
// will be, one PUT).
func (w *s3Writer) Parts() int { return len(w.done) }

func (w *s3Writer) Abort() {
	if w.closed && w.err == nil {
		return
	}
	w.closed = true
	w.buf = nil
	w.abort()
}

// abort deletes an upload's parts so none are left behind.
func (w *s3Writer) abort() {
	if w.upload == nil {
		return
	}
	w.s.client.AbortMultipartUpload(context.WithoutCancel(w.ctx), &s3.AbortMultipartUploadInput{
		Bucket: &w.s.bucket, Key: &w.key, UploadId: w.upload})
	w.upload = nil
}

// Create returns a Writer of the object at key, stored at Close.
func (m *Mem) Create(_ context.Context, key string) (Writer, error) {
	return &memWriter{m: m, key: key}, nil
}

type memWriter struct {
	m      *Mem
	key    string
	buf    bytes.Buffer
	closed bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("blob: write %s: closed", w.key)
	}
	return w.buf.Write(p)
}

func (w *memWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.objects[w.key] = w.buf.Bytes()
	return nil
}

func (w *memWriter) Abort() { w.closed = true }
