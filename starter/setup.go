package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/workflows"
)

// setup prepares a cluster for promoflow, idempotently: the bucket exists
// and the search attributes are registered in the namespace.
func setup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup")
	cfg := config.FromEnv(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bucket %s ready\n", store.URL(""))
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range workflows.SearchAttributeTypes() {
		if _, ok := have.CustomAttributes[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) > 0 {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: cfg.Namespace, SearchAttributes: missing,
		})
		if err != nil {
			return fmt.Errorf("add search attributes: %w", err)
		}
	}
	names := make([]string, 0, len(workflows.SearchAttributeTypes()))
	for name := range workflows.SearchAttributeTypes() {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "search attributes %v registered in namespace %s (%d added)\n", names, cfg.Namespace, len(missing))
	return nil
}
