package browser

import (
	"image/color"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const page = `<!doctype html><html><head><meta charset="utf-8"><title>t</title>
<style>body{margin:0;background:#fff} div{width:200px;height:100px}</style></head><body>
<div id="ink" style="background:#c00"></div>
<div id="blank"></div>
<div id="half"><div style="width:100px;height:100px;background:#00c"></div></div>
<script>%s</script></body></html>`

func serve(t *testing.T, script string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(page, "%s", script, 1)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestInkAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		script string
		errs   int
	}{
		{"desktop clean", Options{}, "", 0},
		{"phone with console error", Options{Mobile: true}, "console.error('boom')", 1},
		{"uncaught exception", Options{}, "null.x", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Start(t, tc.opts)
			if err := b.Open(serve(t, tc.script)); err != nil {
				t.Fatal(err)
			}
			shot, err := b.Screenshot()
			if err != nil {
				t.Fatal(err)
			}
			scale, err := b.Scale()
			if err != nil {
				t.Fatal(err)
			}
			if tc.opts.Mobile && scale != 2 {
				t.Errorf("phone scale = %v, want 2", scale)
			}
			want := map[string][2]float64{"#ink": {0.98, 1}, "#blank": {0, 0.001}, "#half": {0.48, 0.52}}
			for sel, bounds := range want {
				rs, err := b.Rects(sel)
				if err != nil || len(rs) != 1 {
					t.Fatalf("rects %s = %v, %v", sel, rs, err)
				}
				if rs[0].Width != 200 || rs[0].Height != 100 {
					t.Errorf("%s box = %+v, want 200x100", sel, rs[0])
				}
				got, err := Ink(shot, rs[0], scale, color.White)
				if err != nil {
					t.Fatal(err)
				}
				if got < bounds[0] || got > bounds[1] {
					t.Errorf("ink %s = %.3f, want [%v, %v]", sel, got, bounds[0], bounds[1])
				}
			}
			if n, err := b.NodeCount("div"); err != nil || n != 4 {
				t.Errorf("divs = %d, %v; want 4", n, err)
			}
			errs := b.Errors()
			if len(errs) != tc.errs {
				t.Errorf("errors = %q, want %d", errs, tc.errs)
			}
		})
	}
}

func TestInkOutside(t *testing.T) {
	if _, err := Ink([]byte("not a png"), Rect{0, 0, 1, 1}, 1, color.White); err == nil {
		t.Error("Ink of a non-PNG: no error")
	}
}
