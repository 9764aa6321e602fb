package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attachstore/attachstore"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantS   string
		wantB   bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "", false},
		{[]string{"-s", "x", "a"}, []string{"a"}, "x", false},
		{[]string{"a", "--s", "x", "b", "-b"}, []string{"a", "b"}, "x", true},
		{[]string{"a", "-", "--s=y"}, []string{"a", "-"}, "y", false},
		{[]string{"a", "--", "-b", "--s"}, []string{"a", "-b", "--s"}, "", false},
		{[]string{"--s", "--", "a", "-b"}, []string{"a"}, "--", true},
		{[]string{"-b", "--", "-s"}, []string{"-s"}, "", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			s := fs.String("s", "", "")
			b := fs.Bool("b", false, "")
			pos, err := parseInterleaved(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tt.wantPos) && !(len(pos) == 0 && len(tt.wantPos) == 0) || *s != tt.wantS || *b != tt.wantB {
				t.Errorf("got pos %q s %q b %v, want %q %q %v", pos, *s, *b, tt.wantPos, tt.wantS, tt.wantB)
			}
		})
	}
}

func TestBareType(t *testing.T) {
	for in, want := range map[string]string{
		"text/plain; charset=utf-8": "text/plain",
		"Image/PNG":                 "image/png",
		"application/vnd.api+json":  "application/vnd.api+json",
		"":                          "",
		"text":                      "",
		"text/":                     "",
		"a/b/c":                     "",
	} {
		if got := bareType(in); got != want {
			t.Errorf("bareType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFileLabel(t *testing.T) {
	if got := fileLabel("/some/dir/report.pdf"); got != "report.pdf" {
		t.Errorf("fileLabel = %q", got)
	}
	if got := fileLabel("bad\xffname"); got != "bad\uFFFDname" {
		t.Errorf("fileLabel of invalid UTF-8 = %q", got)
	}
	long := strings.Repeat("é", attachstore.MaxLabelBytes)
	if got := fileLabel(long); len(got) > attachstore.MaxLabelBytes || (attachstore.Meta{Label: got}).Validate() != nil {
		t.Errorf("fileLabel of a long name: %d bytes, valid=%v", len(got), (attachstore.Meta{Label: got}).Validate())
	}
}

func TestFailMessageNamesSubjectOnce(t *testing.T) {
	c := &cli{}
	id := attachstore.ContentID([]byte("x")).String()
	tests := []struct {
		op, subject string
		err         error
		want        string
		code        int
	}{
		{"get", id, fmt.Errorf("attachstore: open %s: %w", id, attachstore.ErrNotFound), "get " + id + ": not found", 1},
		{"get", id, fmt.Errorf("attachstore: session \"s\": open %s: %w", id, attachstore.ErrNotFound), "get " + id + `: session "s": not found`, 1},
		{"put", "a.txt", errors.New("open a.txt: no such file or directory"), "put a.txt: no such file or directory", 1},
		{"refs", `session "x"`, fmt.Errorf("attachstore: session %q: refs: %w: too long", "x", attachstore.ErrInvalidSession), `refs session "x": invalid session id: too long`, 2},
	}
	for _, tt := range tests {
		err := c.fail(tt.op, tt.subject, tt.err)
		var ee *exitError
		if !errors.As(err, &ee) || ee.msg != tt.want || ee.code != tt.code {
			t.Errorf("fail(%q, %q, %q) = %+v, want %q exit %d", tt.op, tt.subject, tt.err, ee, tt.want, tt.code)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &progressBar{w: &buf, label: "verify", now: func() time.Time { return now }}
	p.update(0, 10, "0/10 blobs")
	p.update(5, 10, "5/10 blobs") // within 100ms: skipped
	now = now.Add(time.Second)
	p.update(5, 10, "5/10 blobs")
	p.update(10, 10, "10/10 blobs") // the final state is always drawn
	p.done()
	frames := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\r")[1:]
	want := []string{
		"verify [                              ]   0% 0/10 blobs",
		"verify [===============               ]  50% 5/10 blobs",
		"verify [==============================] 100% 10/10 blobs",
	}
	if !reflect.DeepEqual(frames, want) {
		t.Errorf("frames:\n%q\nwant\n%q", frames, want)
	}
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Error("done did not end the line")
	}

	// A shorter line blanks out the rest of a longer one.
	buf.Reset()
	p = &progressBar{w: &buf, label: "reclaim", now: time.Now}
	p.update(0, 0, "blobs: 100 blobs reclaimed")
	p.last = time.Time{}
	p.update(0, 0, "vacuum")
	if got := buf.String(); !strings.HasSuffix(got, "\rreclaim: vacuum"+strings.Repeat(" ", len("blobs: 100 blobs reclaimed")-len("vacuum"))) {
		t.Errorf("redraw did not pad: %q", got)
	}

	var nilBar *progressBar // not a terminal: every call is a no-op
	nilBar.update(1, 2, "")
	nilBar.done()
}
