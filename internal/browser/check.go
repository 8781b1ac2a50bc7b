package browser

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ScreenshotDirEnv names a folder where CheckPage keeps its screenshots.
const ScreenshotDirEnv = "PROMOFLOW_SCREENSHOT_DIR"

// Screens are the screens CheckPage looks at a page on: a desktop window
// and a phone.
var Screens = []struct {
	Name string
	Opts Options
}{
	{"desktop", Options{Width: 1280, Height: 900}},
	{"phone", Options{Mobile: true, Width: 390, Height: 844}},
}

// CheckPage opens url on each of Screens and checks that the page has want
// elements matching charts (a CSS selector), each at least 200x100 CSS
// pixels, inside the window, and drawn on (at least minInk of its pixels
// differ from white on a screenshot); that the page does not scroll
// sideways; and that the console has no error. With $PROMOFLOW_SCREENSHOT_DIR
// set, the screenshots are kept there.
func CheckPage(t *testing.T, url, charts string, want int, minInk float64) {
	t.Helper()
	for _, sc := range Screens {
		t.Run(sc.Name, func(t *testing.T) {
			b := Start(t, sc.Opts)
			if err := b.Open(url); err != nil {
				t.Fatal(err)
			}
			rects, err := b.Rects(charts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rects) != want {
				t.Errorf("%d elements %s in the page, want %d", len(rects), charts, want)
			}
			sizes, err := chromedp.Run(b.Context(), chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, window.innerWidth]`))
			if err != nil {
				t.Fatal(err)
			}
			if sizes[0] > sizes[1] {
				t.Errorf("page is %vpx wide in a %vpx window: scrolls sideways", sizes[0], sizes[1])
			}
			shot, err := b.Screenshot()
			if err != nil {
				t.Fatal(err)
			}
			scale, err := b.Scale()
			if err != nil {
				t.Fatal(err)
			}
			if dir := os.Getenv(ScreenshotDirEnv); dir != "" {
				name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + ".png"
				if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
					t.Error(err)
				}
			}
			for i, r := range rects {
				if r.Width < 200 || r.Height < 100 || r.Width > sizes[1] {
					t.Errorf("chart %d box %+v in a %vpx window", i, r, sizes[1])
					continue
				}
				ink, err := Ink(shot, r, scale, color.White)
				if err != nil {
					t.Fatal(err)
				}
				if ink < minInk {
					t.Errorf("chart %d is blank: %.1f%% of its pixels drawn, want %.1f%%", i, ink*100, minInk*100)
				}
				t.Logf("chart %d: %s", i, fmt.Sprintf("%.0fx%.0f px, %.1f%% drawn", r.Width, r.Height, ink*100))
			}
			if errs := b.Errors(); len(errs) > 0 {
				t.Errorf("console errors: %q", errs)
			}
		})
	}
}
