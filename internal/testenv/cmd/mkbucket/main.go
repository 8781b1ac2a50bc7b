// Command mkbucket waits for an S3-compatible endpoint to answer ListBuckets
// and creates a bucket if it does not exist yet. `make up` uses it against
// the local versitygw. Settings come from flags or the PROMOFLOW_* / AWS_*
// environment variables shared with the worker and the starter.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/promoflow/promoflow/internal/testenv"
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	endpoint := flag.String("endpoint", env("PROMOFLOW_S3_ENDPOINT", "http://127.0.0.1:7070"), "S3 endpoint URL")
	bucket := flag.String("bucket", env("PROMOFLOW_BUCKET", testenv.DefaultBucket), "bucket to create")
	region := flag.String("region", env("PROMOFLOW_S3_REGION", testenv.DefaultRegion), "S3 region")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for the endpoint")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := testenv.NewS3Client(*endpoint, *region,
		env("AWS_ACCESS_KEY_ID", testenv.DefaultAccessKey), env("AWS_SECRET_ACCESS_KEY", testenv.DefaultSecretKey))
	if err := testenv.WaitS3(ctx, c, nil); err != nil {
		fmt.Fprintf(os.Stderr, "mkbucket: S3 endpoint %s not answering: %v\n", *endpoint, err)
		os.Exit(1)
	}
	if err := testenv.EnsureBucket(ctx, c, *bucket); err != nil {
		fmt.Fprintf(os.Stderr, "mkbucket: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("bucket %s ready at %s\n", *bucket, *endpoint)
}
