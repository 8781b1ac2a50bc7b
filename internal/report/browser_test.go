package report

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/promoflow/promoflow/internal/browser"
)

// TestReportInBrowser opens a rendered report in headless Chromium on a
// desktop and a phone screen: the three charts are drawn (axes, labels and
// bars or lines cover at least 3% of each chart's box; a blank box is
// ~0%), the page does not scroll sideways, it asks for no other resource,
// and the console stays clean.
func TestReportInBrowser(t *testing.T) {
	var page bytes.Buffer
	if err := Render(&page, Sample()); err != nil {
		t.Fatal(err)
	}
	browser.CheckPage(t, servePage(t, page.Bytes()), "svg.chart", 3, 0.03)
}

// servePage serves page as /report.html on a loopback server closed with
// the test, failing the test if the page asks for anything else, and
// returns the page's address.
func servePage(t *testing.T, page []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/report.html" {
			t.Errorf("page requested %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/report.html"
}
