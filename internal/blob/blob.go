// Package blob stores objects in an S3-compatible bucket: the data plane of
// every promoflow stage.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("object not found")

// Config says how to reach the bucket.
type Config struct {
	Endpoint  string // empty means AWS's own endpoints
	Region    string
	Bucket    string
	AccessKey string // empty means the AWS default credential chain
	SecretKey string
	PathStyle bool // needed by most self-hosted gateways
}

// S3 is a bucket on an S3-compatible service.
type S3 struct {
	client *s3.Client
	bucket string
	// Files larger than multipartAbove are uploaded in parts of partSize:
	// one PUT is limited to 5 GiB.
	multipartAbove, partSize int64
	streamPart               int64 // first part size of Create's uploads
}

// Multipart thresholds: S3 takes at most 5 GiB in one PUT and parts of at
// least 5 MiB (but the last), at most 10,000 of them.
const (
	defaultMultipartAbove = 1 << 30
	defaultPartSize       = 128 << 20
	minPartSize           = 5 << 20
	maxParts              = 10000
)

// NewS3 returns a store for cfg.Bucket.
func NewS3(ctx context.Context, cfg Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blob: no bucket configured")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Self-hosted gateways may not implement the newer default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{client: client, bucket: cfg.Bucket, multipartAbove: defaultMultipartAbove, partSize: defaultPartSize,
		streamPart: defaultStreamPart}, nil
}

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// URL returns the s3:// address of key.
func (s *S3) URL(key string) string { return "s3://" + s.bucket + "/" + key }

// EnsureBucket creates the bucket unless it exists.
func (s *S3) EnsureBucket(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err == nil {
		return nil
	}
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("blob: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Put writes data to key.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// PutFile uploads the local file at path to key.
func (s *S3) PutFile(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if st.Size() > s.multipartAbove {
		return s.putParts(ctx, key, f, st.Size())
	}
	return s.put(ctx, key, f, st.Size())
}

// SetMultipart changes the size above which files are uploaded in parts,
// and the part size (at least 5 MiB), so tests can reach the multipart
// path with small files.
func (s *S3) SetMultipart(above, partSize int64) {
	s.multipartAbove, s.partSize = above, max(partSize, minPartSize)
}

// putParts uploads the size bytes of f as a multipart upload, one part
// after the other; a failed upload is aborted so no parts are left behind.
func (s *S3) putParts(ctx context.Context, key string, f io.ReaderAt, size int64) (err error) {
	part := max(s.partSize, (size+maxParts-1)/maxParts)
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("blob: put %s: start multipart upload: %w", key, err)
	}
	defer func() {
		if err != nil {
			s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
				Bucket: &s.bucket, Key: &key, UploadId: up.UploadId})
		}
	}()
	var done []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+part, n+1 {
		length := min(part, size-off)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(f, off, length), ContentLength: aws.Int64(length),
		}, unsignedPayload)
		if err != nil {
			return fmt.Errorf("blob: put %s: part %d: %w", key, n, err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return fmt.Errorf("blob: put %s: complete multipart upload: %w", key, err)
	}
	return nil
}

func (s *S3) put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: body, ContentLength: aws.Int64(size),
	}, unsignedPayload)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// unsignedPayload signs an upload's headers but not its body: hashing
// every uploaded byte with SHA-256 for the signature cost the worker about
// 2 CPU seconds a gigabyte (ingest alone uploads over a gigabyte at
// 300,000 users). The length is still signed, and the gateway is reached
// over loopback or TLS.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// Get reads the whole object at key.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	data, err := readBody(out.Body, out.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("blob: read %s: %w", key, err)
	}
	return data, nil
}

// readBody reads a body of size bytes (nil: unknown) into one allocation
// of that size: io.ReadAll's doubling from 512 bytes copied and cleared
// each large object about twice over (5% of a worker's CPU at 1,000,000
// users).
func readBody(r io.Reader, size *int64) ([]byte, error) {
	if size == nil || *size < 0 || *size > 1<<34 {
		return io.ReadAll(r)
	}
	buf := make([]byte, *size+1) // one byte more sees a body longer than announced
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		if int64(n) != *size {
			return nil, fmt.Errorf("%d bytes, announced %d", n, *size)
		}
		return buf[:n], nil
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("more bytes than the %d announced", *size)
	}
}

// Open streams the object at key.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

func (s *S3) get(ctx context.Context, key string) (*s3.GetObjectOutput, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("blob: get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob: get %s: %w", key, err)
	}
	return out, nil
}

// Exists reports whether key exists.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("blob: head %s: %w", key, err)
}

// List returns the keys under prefix, sorted.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("blob: list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// deleteBatch is the most keys one DeleteObjects request takes.
const deleteBatch = 1000

// DeletePrefix deletes every object under prefix and returns how many it
// deleted; none is not an error. prefix must not be empty: this is not a
// way to empty the bucket.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("blob: delete: empty prefix")
	}
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for len(keys) > 0 {
		batch := keys[:min(deleteBatch, len(keys))]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return deleted, fmt.Errorf("blob: delete under %s: %w", prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return deleted, fmt.Errorf("blob: delete under %s: %d of %d keys failed, first %s: %s %s",
				prefix, len(out.Errors), len(batch), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		deleted += len(batch)
	}
	return deleted, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")
}

// Mem is an in-memory store for tests of code that takes a store.
type Mem struct {
	mu      sync.Mutex
	objects map[string][]byte
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{objects: map[string][]byte{}} }

// URL returns a mem:// address of key.
func (m *Mem) URL(key string) string { return "mem://" + key }

// Put stores a copy of data at key.
func (m *Mem) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = append([]byte(nil), data...)
	return nil
}

// PutFile stores the content of the local file at path.
func (m *Mem) PutFile(ctx context.Context, key, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return m.Put(ctx, key, data)
}

// Get returns a copy of the object at key.
func (m *Mem) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("blob: get %s: %w", key, ErrNotFound)
	}
	return append([]byte(nil), d...), nil
}

// Open streams the object at key.
func (m *Mem) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	d, err := m.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

// Exists reports whether key exists.
func (m *Mem) Exists(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.objects[key]
	return ok, nil
}

// DeletePrefix deletes every object under prefix and returns how many it
// deleted; prefix must not be empty.
func (m *Mem) DeletePrefix(_ context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("blob: delete: empty prefix")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			delete(m.objects, k)
			n++
		}
	}
	return n, nil
}

// List returns the keys under prefix, sorted.
func (m *Mem) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
