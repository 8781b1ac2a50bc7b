package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// TestSecretsStayOut runs a regeneration on the worker command, with an S3
// secret key and a payload encryption key in its environment, and checks
// that neither appears in the worker's log, in the workflows' histories
// (as stored, and with the payloads decrypted) or in the published
// summary; and that the log does have the activities' lines, so the check
// is not vacuous.
func TestSecretsStayOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and the worker command")
	}
	ctx := context.Background()
	stack := testenv.Start(t)
	dir := t.TempDir()
	bin := buildWorker(t, dir)
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	env := map[string]string{"PROMOFLOW_ENCRYPTION_KEYS": "k1:" + key, "PROMOFLOW_TASK_QUEUE": "secrets"}
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	secrets := map[string]string{
		"S3 secret key":           stack.SecretKey,
		"encryption key":          key,
		"encryption key (raw)":    string(raw),
		"encryption key (base64)": base64.StdEncoding.EncodeToString([]byte(key)),
	}

	var logs bytes.Buffer
	cmd := exec.Command(bin)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "HOME="+dir, "PATH="+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer stop()

	// The starter's side: the same configuration, so the same codec.
	var cfg config.Config
	cfg.Register(flag.NewFlagSet("t", flag.ContinueOnError), func(k string) string { return env[k] })
	opts, err := cfg.ClientOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "events.csv.gz")
	if _, err := synth.WriteFile(input, synth.Config{Users: 600, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutFile(ctx, "raw/secrets/events.csv.gz", input); err != nil {
		t.Fatal(err)
	}
	const id = "secrets-1"
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "secrets"}, workflows.Regenerate,
		workflows.RegenerateInput{RunID: id, Template: "weekly", Inputs: []string{"raw/secrets/events.csv.gz"}, Shards: 2, Seed: 3, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	var sum workflows.Summary
	if err := wr.Get(ctx, &sum); err != nil {
		t.Fatalf("run: %v\nworker log:\n%s", err, logs.String())
	}
	summary, err := store.Get(ctx, layout.Campaign(sum.Campaign)+"summary.json")
	if err != nil {
		t.Fatal(err)
	}

	codec, err := cfg.Codec()
	if err != nil || codec == nil {
		t.Fatalf("codec %v: %v", codec, err)
	}
	var stored, decoded bytes.Buffer
	events := 0
	for _, wid := range []string{id, id + "-segment", id + "-train"} {
		iter := c.GetWorkflowHistory(ctx, wid, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			events++
			b, _ := protojson.Marshal(ev)
			stored.Write(b)
			// Every payload, decrypted.
			for _, p := range payloadsOf(ev.GetActivityTaskScheduledEventAttributes().GetInput().GetPayloads(),
				ev.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads(),
				ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(),
				ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()) {
				plain, err := codec.Decode(p)
				if err != nil {
					t.Fatalf("decode a payload of %s: %v", wid, err)
				}
				for _, q := range plain {
					decoded.Write(q.GetData())
				}
			}
		}
	}
	stop()
	if events < 50 || decoded.Len() == 0 {
		t.Fatalf("%d history events, %d decoded payload bytes: too few to check", events, decoded.Len())
	}
	if !strings.Contains(logs.String(), `"msg":"activity completed"`) || !strings.Contains(logs.String(), `"run":"secrets-1"`) {
		t.Fatalf("worker log has no activity lines:\n%s", logs.String())
	}
	if !bytes.Contains(decoded.Bytes(), []byte("raw/secrets/events.csv.gz")) || bytes.Contains(stored.Bytes(), []byte("raw/secrets/events.csv.gz")) {
		t.Errorf("payloads are not encrypted in the stored history, or do not decode")
	}
	for what, text := range map[string][]byte{
		"worker log": logs.Bytes(), "stored history": stored.Bytes(), "decrypted history": decoded.Bytes(), "summary.json": summary,
	} {
		for name, s := range secrets {
			if bytes.Contains(text, []byte(s)) {
				t.Errorf("%s contains the %s", what, name)
			}
		}
	}
}

func payloadsOf[P any](lists ...[]P) [][]P {
	var out [][]P
	for _, l := range lists {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}
