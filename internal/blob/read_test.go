package blob

import (
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	tests := []struct {
		name    string
		body    string
		size    *int64
		wantErr bool
	}{
		{"announced size", "hello", size(5), false},
		{"empty", "", size(0), false},
		{"unknown size", "hello", nil, false},
		{"negative size means unknown", "hello", size(-1), false},
		{"shorter than announced", "hell", size(5), true},
		{"longer than announced", "hello!", size(5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(tt.body), tt.size)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.body {
				t.Errorf("got %q, want %q", got, tt.body)
			}
		})
	}
}
