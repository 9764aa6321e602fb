package browsertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/attachstore/attachstore"
	"github.com/attachstore/attachstore/attachhttp"
)

const token = "browser-test-token-0123456789"

// chromium finds the browser, skipping (or failing under CI) without one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ATTACHSTORE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no Chromium found (apt-get install chromium)")
	}
	t.Skip("no Chromium on $PATH; set ATTACHSTORE_CHROMIUM")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and returns a
// tab's context, cancelled (and the browser ended) when t ends. The
// background-networking flags keep Chromium from calling home, which on a
// closed network floods it with refused connections.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where the sandbox cannot start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser, which lives as long as bctx.
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorDeny}); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// A bound on the whole test, so a browser that hangs fails it rather
	// than the package's timeout; no assertion depends on it.
	ctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// consoleErrors collects the console's errors and uncaught exceptions.
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleErrors) listen(t *testing.T, ctx context.Context) {
	err := chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				c.msgs = append(c.msgs, "console: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			c.msgs = append(c.msgs, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				c.msgs = append(c.msgs, fmt.Sprintf("log: %s %s", ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (c *consoleErrors) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// screenshot saves the page as NAME.png in the output folder.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Kept after the run, for a person to look at: a t.TempDir is removed.
	dir := os.Getenv("ATTACHSTORE_TEST_OUT")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "attachstore-browsertest")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// openStore returns a store in a file, closed when t ends.
func openStore(t *testing.T) *attachstore.Store {
	t.Helper()
	s, err := attachstore.Open(context.Background(), filepath.Join(t.TempDir(), "attachments.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// requestLog records the requests the server answered.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

type loggedRequest struct {
	method, path, rng string
	status            int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.reqs = append(l.reqs, loggedRequest{r.Method, r.URL.Path, r.Header.Get("Range"), rec.status})
		l.mu.Unlock()
	})
}

func (l *requestLog) all() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedRequest(nil), l.reqs...)
}

// serve starts the handler on a loopback port.
func serve(t *testing.T, s *attachstore.Store, log *requestLog, extra func(*http.ServeMux)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/", attachhttp.New(s, attachhttp.Options{Token: token}))
	if extra != nil {
		extra(mux)
	}
	var h http.Handler = mux
	if log != nil {
		h = log.wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// login opens the URL serve prints, which trades the token for a cookie.
func login(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token="+token), chromedp.WaitVisible(chromedp.ID("stats"))); err != nil {
		t.Fatalf("opening the inspector: %v", err)
	}
}

func put(t *testing.T, s *attachstore.Store, session string, data []byte, meta attachstore.Meta) attachstore.ID {
	t.Helper()
	ref, err := s.Session(session).WithOwner("turn-1").Put(context.Background(), data, meta)
	if err != nil {
		t.Fatal(err)
	}
	return ref.ID
}

// testImage is a w×h gradient.
func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

func encoded(t *testing.T, enc func(io.Writer, image.Image) error, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// minimalPDF is a one-page PDF, small enough to write by hand.
func minimalPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	var offs []int
	for _, obj := range []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 120] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length 44 >>\nstream\nBT /F1 18 Tf 20 60 Td (attachstore) Tj ET\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	} {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), obj)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

// TestInspectorInBrowser opens the inspector as a person would: the URL
// with the token, the index, a session with every kind of preview, and
// the reclaim dry run, with no console error on the way.
func TestInspectorInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	var console consoleErrors
	console.listen(t, ctx)
	s := openStore(t)
	img := testImage(64, 48)
	images := map[string][]byte{
		"image/png":  encoded(t, png.Encode, img),
		"image/jpeg": encoded(t, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) }, img),
		"image/gif":  encoded(t, func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) }, img),
	}
	for mt, data := range images {
		put(t, s, "chat-42", data, attachstore.Meta{MediaType: mt, Label: "picture." + strings.TrimPrefix(mt, "image/")})
	}
	put(t, s, "chat-42", minimalPDF(), attachstore.Meta{MediaType: "application/pdf", Label: "report.pdf"})
	put(t, s, "chat-42", []byte("The agent's notes.\nSecond line <not markup>."), attachstore.Meta{MediaType: "text/plain", Label: "notes.txt"})
	put(t, s, "chat-42", []byte("<script>document.title='ran'</script>"), attachstore.Meta{MediaType: "text/html", Label: "page.html"})
	if _, err := s.Session("chat-42").CommitOwned(context.Background(), "turn-1"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "chat-7", []byte("an abandoned draft"), attachstore.Meta{MediaType: "text/plain"})
	for i := range 3 {
		if _, err := s.Put(context.Background(), []byte(fmt.Sprintf("orphan %d", i)), attachstore.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	ts := serve(t, s, nil, nil)

	login(t, ctx, ts.URL)
	if blobs, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("stat-blobs"))); err != nil || blobs != "10" {
		t.Errorf("index shows %q blobs (%v), want 10", blobs, err)
	}
	screenshot(t, ctx, "inspector-index")

	// To the session, by its link, as a person would.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a.session[href$="chat-42"]`))); err != nil {
		t.Fatalf("navigating to the session: %v", err)
	}
	// Every image decoded: wait until each has loaded, then look.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Array.from(document.images).every(i => i.complete)`)); err != nil {
		t.Fatal(err)
	}
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`Array.from(document.images).map(i => i.naturalWidth)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(widths) != len(images) {
		t.Errorf("%d image previews, want %d", len(widths), len(images))
	}
	for i, w := range widths {
		if w != 64 {
			t.Errorf("image preview %d: naturalWidth %d, want 64 (not decoded)", i, w)
		}
	}
	pdfs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('figure.kind-pdf iframe.pdf').length`))
	if err != nil {
		t.Fatal(err)
	}
	downloads, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('figure.kind-download a.download').length`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("pre.text")))
	if err != nil {
		t.Fatal(err)
	}
	if pdfs != 1 || downloads != 1 || !strings.Contains(text, "Second line <not markup>.") {
		t.Errorf("session page: %d PDF previews, %d download links, text preview %q", pdfs, downloads, text)
	}
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title == "ran" {
		t.Errorf("the HTML attachment's script ran in the inspector (title %q)", title)
	}
	screenshot(t, ctx, "inspector-session")

	// The reclaim dry run, with a grace of zero typed into its form.
	want, err := s.Reclaim(context.Background(), attachstore.ReclaimPolicy{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a[href$="inspect/reclaim"]`))); err != nil {
		t.Fatalf("opening the reclaim dry run: %v", err)
	}
	// RunResponse waits for the page the form's submission loads.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`input[name="grace"]`), "0s")); err != nil {
		t.Fatal(err)
	}
	if resp, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS(`input[name="grace"]`))); err != nil || !strings.Contains(resp.URL, "grace=0s") {
		t.Fatalf("submitting a grace of 0s: %v", err)
	}
	expired, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("expired-intents")))
	if err != nil {
		t.Fatal(err)
	}
	reclaimed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("reclaimed-blobs")))
	if err != nil {
		t.Fatal(err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("reclaimed-bytes"), "data-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	bytesAttr := attr.Value
	if expired != fmt.Sprint(want.ExpiredIntents) || reclaimed != fmt.Sprint(want.ReclaimedBlobs) || bytesAttr != fmt.Sprint(want.ReclaimedBytes) {
		t.Errorf("dry run page: %s intents, %s blobs, %s bytes; Reclaim(DryRun): %+v", expired, reclaimed, bytesAttr, want)
	}
	// Three orphans, and the draft whose intent expires.
	if want.ReclaimedBlobs != 4 || want.ExpiredIntents != 1 {
		t.Errorf("Reclaim(DryRun) = %+v: the store was not filled as the test means", want)
	}
	screenshot(t, ctx, "inspector-reclaim")

	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a[href$="inspect/verify"]`))); err != nil {
		t.Fatal(err)
	}
	if verdict, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("verify-result"))); err != nil || !strings.Contains(verdict, "No problem found") {
		t.Errorf("verify page: %q %v", verdict, err)
	}
	screenshot(t, ctx, "inspector-verify")

	if errs := console.get(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestActiveAttachmentDoesNotRun opens an HTML and an SVG attachment's own
// URL: their scripts, which would mark the page and call the server, never
// run. A control serves the same HTML inline, where the marker does show:
// the check can fail.
func TestActiveAttachmentDoesNotRun(t *testing.T) {
	ctx := newBrowser(t)
	s := openStore(t)
	var mu sync.Mutex
	hits := 0
	script := `document.title='ran'; fetch('/marker').catch(()=>{}); new Image().src='/marker';`
	html := []byte("<!doctype html><title>attachment</title><script>" + script + "</script>")
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>` + script + `</script></svg>`)
	htmlID := put(t, s, "chat", html, attachstore.Meta{MediaType: "text/html", Label: "page.html"})
	svgID := put(t, s, "chat", svg, attachstore.Meta{MediaType: "image/svg+xml", Label: "chart.svg"})
	ts := serve(t, s, nil, func(m *http.ServeMux) {
		m.HandleFunc("GET /marker", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits++
			mu.Unlock()
		})
		m.HandleFunc("GET /control", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write(html)
		})
	})
	marked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	login(t, ctx, ts.URL)

	for _, id := range []attachstore.ID{htmlID, svgID} {
		u := ts.URL + "/sessions/chat/attachments/" + id.String()
		// A download is not a navigation: Chromium reports it aborted
		// and stays on the page it was on.
		_ = chromedp.Do(ctx, chromedp.Navigate(u))
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		href, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if title == "ran" {
			t.Errorf("%s: the attachment's script ran (title %q at %s)", u, title, href)
		}
		// Also as a frame of the inspector's own origin.
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
			t.Fatal(err)
		}
		frameTitle, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise(res => { const f = document.createElement('iframe'); f.src = %q; f.onload = () => { let t = ''; try { t = f.contentDocument ? f.contentDocument.title : 'opaque'; } catch (e) { t = 'opaque'; } res(t); }; document.body.appendChild(f); setTimeout(() => res('no load'), 5000); })`, u), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if frameTitle == "ran" {
			t.Errorf("%s in a frame: the script ran", u)
		}
	}
	screenshot(t, ctx, "active-attachment")
	if n := marked(); n != 0 {
		t.Errorf("the marker was called %d times: an attachment's script ran", n)
	}

	// The control: the same HTML served as a careless server would.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/control"), chromedp.Poll[chromedp.Void](`document.title === 'ran'`)); err != nil {
		t.Fatalf("control page: the marker does not show a script that ran: %v", err)
	}
	if n := marked(); n == 0 {
		t.Errorf("control page: its script ran but the marker was not called")
	}
}

// wav writes a mono 16-bit PCM WAV of the given length: a tone whose
// pitch changes every second, so that no stretch repeats.
func wav(w io.Writer, rate, seconds int) error {
	n := rate * seconds
	hdr := struct {
		Riff     [4]byte
		Size     uint32
		Wave     [4]byte
		Fmt      [4]byte
		FmtSize  uint32
		Format   uint16
		Channels uint16
		Rate     uint32
		ByteRate uint32
		Align    uint16
		Bits     uint16
		Data     [4]byte
		DataSize uint32
	}{[4]byte{'R', 'I', 'F', 'F'}, uint32(36 + 2*n), [4]byte{'W', 'A', 'V', 'E'}, [4]byte{'f', 'm', 't', ' '}, 16, 1, 1,
		uint32(rate), uint32(2 * rate), 2, 16, [4]byte{'d', 'a', 't', 'a'}, uint32(2 * n)}
	if err := binary.Write(w, binary.LittleEndian, hdr); err != nil {
		return err
	}
	buf := make([]byte, 2*rate)
	for sec := range seconds {
		f := 220 + float64(sec%40)*10
		for i := range rate {
			v := int16(8000 * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// TestAudioSeeksByRange: an <audio> element of the inspector seeks deep
// into a large WAV, and Chromium fetches that part with a Range request.
func TestAudioSeeksByRange(t *testing.T) {
	ctx := newBrowser(t)
	s := openStore(t)
	const rate, seconds = 8000, 1800 // 30 minutes, about 27 MiB
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(wav(pw, rate, seconds)) }()
	ref, err := s.Session("music").PutReader(context.Background(), pr, attachstore.Meta{MediaType: "audio/wav", Label: "tone.wav"})
	if err != nil {
		t.Fatal(err)
	}
	var log requestLog
	ts := serve(t, s, &log, nil)
	login(t, ctx, ts.URL)
	const target = 1500.0 // seconds: five sixths of the way in
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/inspect/sessions/music"),
		chromedp.WaitReady(chromedp.CSS("audio")),
		chromedp.Poll[chromedp.Void](`document.querySelector('audio').readyState >= 1`),
	); err != nil {
		t.Fatalf("loading the audio element: %v", err)
	}
	duration, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('audio').duration`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(`document.querySelector('audio').currentTime = %v`, target))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const a = document.querySelector('audio'); return !a.seeking && a.readyState >= 2 && Math.abs(a.currentTime - %v) < 1; })()`, target)),
	); err != nil {
		t.Fatalf("seeking the audio element: %v", err)
	}
	if math.Abs(duration-seconds) > 1 {
		t.Errorf("duration %v, want %d", duration, seconds)
	}
	screenshot(t, ctx, "audio-seek")
	attPath := "/sessions/music/attachments/" + ref.ID.String()
	deep := int64(44 + 2*rate*(target-10))
	found := false
	var seen []string
	for _, r := range log.all() {
		if r.path != attPath {
			continue
		}
		seen = append(seen, fmt.Sprintf("%s %q → %d", r.method, r.rng, r.status))
		var start int64
		if _, err := fmt.Sscanf(r.rng, "bytes=%d-", &start); err == nil && start >= deep && r.status == http.StatusPartialContent {
			found = true
		}
	}
	if !found {
		t.Errorf("no 206 answer to a Range request from byte %d on (size %d); requests:\n%s", deep, ref.Size, strings.Join(seen, "\n"))
	}
}
