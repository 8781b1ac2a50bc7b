// Package browser drives a headless Chromium for tests: it finds the binary,
// skips (or fails, when PROMOFLOW_REQUIRE_BROWSER=1) without one, opens pages,
// collects console errors and uncaught exceptions, and measures how much of a
// screenshot region is drawn on. It wraps github.com/chromedp/chromedp.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// RequireEnv, set to 1, makes Start fail rather than skip a test when no
// browser is installed; CI sets it so browser tests cannot silently vanish.
const RequireEnv = "PROMOFLOW_REQUIRE_BROWSER"

// PathEnv names a browser binary to use instead of searching PATH.
const PathEnv = "PROMOFLOW_CHROMIUM"

// candidates are the names Chromium goes by, Debian's first.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// ErrNotFound means no Chromium binary was found.
var ErrNotFound = errors.New("browser: no chromium binary (install Debian package chromium, or set " + PathEnv + ")")

// Find returns the path of a Chromium binary: $PROMOFLOW_CHROMIUM, else the
// first of chromium, chromium-browser, google-chrome... on PATH.
func Find() (string, error) {
	if p := os.Getenv(PathEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("browser: %s=%s: %w", PathEnv, p, err)
		}
		return p, nil
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Options set up a browser; zero values take defaults.
type Options struct {
	Width, Height int           // viewport; default 1280x900
	Mobile        bool          // emulate a phone-width touch device (Width default 390)
	Timeout       time.Duration // for the whole browser session; default 60s
}

// Browser is one headless Chromium with one tab. Its console errors and
// uncaught exceptions are recorded from the start.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	errors []string
}

// Start launches a headless Chromium for t and closes it when t ends. It
// skips t when no browser is installed, unless PROMOFLOW_REQUIRE_BROWSER=1,
// in which case it fails t.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, RequireEnv)
		}
		t.Skip(err)
	}
	b, err := Launch(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Launch starts the Chromium at path. Close it when done.
func Launch(path string, opts Options) (*Browser, error) {
	if opts.Width == 0 {
		opts.Width = 1280
		if opts.Mobile {
			opts.Width = 390
		}
	}
	if opts.Height == 0 {
		opts.Height = 900
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // containers and CI run as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), // small /dev/shm in containers
		chromedp.WindowSize(opts.Width, opts.Height),
	)
	actx, acancel := context.WithTimeout(context.Background(), opts.Timeout)
	actx, aclose := chromedp.NewExecAllocator(actx, flags...)
	b := &Browser{}
	// WithListener sees events from the tab's first command, and in order
	// with command replies: once an action returns, every console message it
	// caused has been recorded.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	b.cancel = func() { cancel(); aclose(); acancel() }
	emulate := chromedp.EmulateViewport(int64(opts.Width), int64(opts.Height))
	if opts.Mobile {
		emulate = chromedp.EmulateViewport(int64(opts.Width), int64(opts.Height), chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(ctx, emulate); err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	return b, nil
}

// listen records console errors, failed assertions, uncaught exceptions
// and browser log errors (such as a resource that failed to load).
func (b *Browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.record("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.record(fmt.Sprintf("exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e != nil && e.Level == cdplog.EntryLevelError {
			b.record(fmt.Sprintf("log %s: %s %s", e.Source, e.Text, e.URL))
		}
	}
}

func (b *Browser) record(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, msg)
}

// Context is the tab's context, for chromedp actions of one's own.
func (b *Browser) Context() context.Context { return b.ctx }

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Run runs chromedp actions in the tab.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) error {
	return chromedp.Do(b.ctx, actions...)
}

// Open navigates to url and waits until body is ready.
func (b *Browser) Open(url string) error {
	return b.Run(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// Errors returns the console errors and uncaught exceptions seen so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Rect is an element's box in CSS pixels, relative to the document.
type Rect struct{ X, Y, Width, Height float64 }

// Rects returns the document-relative boxes (getBoundingClientRect plus the
// scroll offset) of the elements matching the CSS selector, in document order.
func (b *Browser) Rects(selector string) ([]Rect, error) {
	js := fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => {
		const r = e.getBoundingClientRect();
		return {X: r.left + window.scrollX, Y: r.top + window.scrollY, Width: r.width, Height: r.height};
	})`, selector)
	rects, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]Rect](js))
	if err != nil {
		return nil, fmt.Errorf("browser: rects of %s: %w", selector, err)
	}
	return rects, nil
}

// Screenshot captures the whole page as PNG, at the device scale factor.
func (b *Browser) Screenshot() ([]byte, error) {
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, fmt.Errorf("browser: screenshot: %w", err)
	}
	return buf, nil
}

// Scale returns window.devicePixelRatio: screenshot pixels per CSS pixel.
func (b *Browser) Scale() (float64, error) {
	return chromedp.Run(b.ctx, chromedp.Evaluate[float64](`window.devicePixelRatio`))
}

// Ink decodes a PNG screenshot and returns the share of pixels inside r
// (CSS pixels, scaled by scale) that differ from the background colour bg
// by more than a small tolerance, so antialiasing noise does not count. An
// empty or off-image r gives an error.
func Ink(pngData []byte, r Rect, scale float64, bg color.Color) (float64, error) {
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return 0, fmt.Errorf("browser: decode screenshot: %w", err)
	}
	box := image.Rect(int(r.X*scale), int(r.Y*scale), int((r.X+r.Width)*scale), int((r.Y+r.Height)*scale)).Intersect(img.Bounds())
	if box.Empty() {
		return 0, fmt.Errorf("browser: region %+v is outside the %v screenshot", r, img.Bounds())
	}
	br, bgG, bb, _ := bg.RGBA()
	var ink int
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if diff(cr, br)+diff(cg, bgG)+diff(cb, bb) > 3*0x0800 {
				ink++
			}
		}
	}
	return float64(ink) / float64(box.Dx()*box.Dy()), nil
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// NodeCount returns how many elements match the CSS selector.
func (b *Browser) NodeCount(selector string) (int, error) {
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", selector)))
	if err != nil {
		return 0, fmt.Errorf("browser: count %s: %w", selector, err)
	}
	return n, nil
}
