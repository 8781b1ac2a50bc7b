package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Fixed development settings shared by the embedded stack (Makefile) and the
// per-test stacks started by this package.
const (
	DefaultNamespace = "default"
	DefaultBucket    = "promoflow"
	DefaultRegion    = "us-east-1"
	DefaultAccessKey = "promoflow"
	DefaultSecretKey = "promoflow-secret"
)

// NewS3Client returns an S3 client for an S3-compatible endpoint such as
// versitygw: path-style addressing, static credentials, no shared config or
// environment lookups.
func NewS3Client(endpoint, region, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		// versitygw accepts the SDK's default flexible checksums, but keep
		// them "when required" so the client also works with gateways that
		// do not.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// WaitS3 polls ListBuckets until it succeeds, ctx ends, or alive (if not
// nil) reports that the server process has gone. It returns the last error.
func WaitS3(ctx context.Context, c *s3.Client, alive func() error) error {
	var last error
	for {
		if alive != nil {
			if err := alive(); err != nil {
				return err
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.ListBuckets(rctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// EnsureBucket creates bucket unless it already exists and is owned by the
// caller. It is safe to call repeatedly.
func EnsureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return nil
	}
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	// Some gateways answer BucketAlreadyExists for the caller's own bucket;
	// accept it only if the bucket is reachable with these credentials.
	var exists *types.BucketAlreadyExists
	if errors.As(err, &exists) {
		if _, herr := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr == nil {
			return nil
		}
	}
	return fmt.Errorf("create bucket %q: %w", bucket, err)
}
