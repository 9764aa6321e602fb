package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// barMinBytes is the smallest file for which put, get, export and import
// draw a bar: smaller ones are done before a bar could tell anything.
const barMinBytes = 1 << 20

// bar is a progress bar on stderr, drawn by schollz/progressbar only when
// stderr is a terminal. A nil *bar draws nothing, so callers need not
// check; every method may be called on it.
type bar struct {
	pb *progressbar.ProgressBar
}

// newBar returns a bar for total units (bytes when bytes is set; -1 when
// the total is unknown, which draws a spinner), or nil when stderr is not
// a terminal.
func (c *cli) newBar(total int64, bytes bool, desc string) *bar {
	if !c.progress || total == 0 {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	}
	if bytes {
		opts = append(opts,
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true))
	} else if total > 0 {
		opts = append(opts, progressbar.OptionShowCount())
	}
	return &bar{progressbar.NewOptions64(total, opts...)}
}

// newByteBar is newBar for a transfer of size bytes, or nil for one too
// small to need it.
func (c *cli) newByteBar(size int64, desc string) *bar {
	if size >= 0 && size < barMinBytes {
		return nil
	}
	return c.newBar(size, true, desc)
}

// set moves the bar to done.
func (b *bar) set(done int64) {
	if b == nil {
		return
	}
	b.pb.Set64(done)
}

// describe changes the text before the bar.
func (b *bar) describe(desc string) {
	if b == nil {
		return
	}
	b.pb.Describe(desc)
}

// reader counts what r yields on the bar.
func (b *bar) reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return io.TeeReader(r, counter{b.pb})
}

// writer counts what is written to w on the bar.
func (b *bar) writer(w io.Writer) io.Writer {
	if b == nil {
		return w
	}
	return io.MultiWriter(w, counter{b.pb})
}

// counter adds what is written to it to the bar and never fails: the
// progressbar's own Write refuses to pass its total (a file that grew
// while read), which must not fail the transfer it only shows.
type counter struct{ pb *progressbar.ProgressBar }

func (w counter) Write(p []byte) (int, error) {
	w.pb.Add(len(p))
	return len(p), nil
}

// done erases the bar, so that the line is free for results and errors.
func (b *bar) done() {
	if b == nil {
		return
	}
	b.pb.Finish() // with OptionClearOnFinish, this erases the line
}
