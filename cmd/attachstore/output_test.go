package main

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"reflect"
	"strings"
	"syscall"
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

// TestFailMessageNamesSubjectOnce: the CLI's message names the command
// and its subject once, then the library's cause, whatever the library's
// own error (a real one, here) names.
func TestFailMessageNamesSubjectOnce(t *testing.T) {
	c := &cli{}
	ctx := context.Background()
	s, err := attachstore.Open(ctx, attachstore.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sid := attachstore.ContentID([]byte("x"))
	id := sid.String()
	if err := s.DropSession(ctx, "dropped"); err != nil {
		t.Fatal(err)
	}
	_, errGet := s.NewReader(ctx, sid)
	_, errSessionGet := s.Session("s").NewReader(ctx, sid)
	_, errRefs := s.Session(strings.Repeat("x", attachstore.MaxSessionIDBytes+1)).Refs(ctx)
	errCommit := s.Session("s").Commit(ctx, sid)
	_, errPut := s.Session("dropped").Put(ctx, []byte("x"), attachstore.Meta{})
	errHold := s.Session("dropped").Hold(ctx, "o", time.Now())
	long := sessionSubj(strings.Repeat("x", attachstore.MaxSessionIDBytes+1))
	tests := []struct {
		op      string
		subject subject
		err     error
		want    string
		code    int
		kind    string
	}{
		{"get", idSubj(id), errGet, "get " + id + ": not found", 1, "not_found"},
		{"get", idSubj(id), inSession("s", errSessionGet), "get " + id + `: session "s": not found`, 1, "not_found"},
		{"put", fileSubj("a.txt"), &fs.PathError{Op: "open", Path: "a.txt", Err: syscall.ENOENT}, "put a.txt: no such file or directory", 1, "no_such_file"},
		{"refs", long, errRefs, "refs " + long.String() + ": invalid session id: session id is 257 bytes, at most 256", 2, "invalid_session"},
		{"commit", idSubj(id), within(`session "s"`, errCommit), "commit " + id + `: session "s": not found: no ref to ` + id + " to commit", 1, "not_found"},
		{"put", fileSubj("a.txt"), inSession("dropped", errPut), `put a.txt: session "dropped": ` + droppedMsg, 1, "session_dropped"},
		{"hold", sessionSubj("dropped"), errHold, `hold session "dropped": ` + droppedMsg, 1, "session_dropped"},
	}
	for _, tt := range tests {
		err := c.fail(tt.op, tt.subject, tt.err)
		var ee *exitError
		if !errors.As(err, &ee) || ee.msg != tt.want || ee.code != tt.code || ee.kind != tt.kind {
			t.Errorf("fail(%q, %v, %q) = %+v, want %q exit %d kind %s", tt.op, tt.subject, tt.err, ee, tt.want, tt.code, tt.kind)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("fail(%q, %v, %q) lost its cause", tt.op, tt.subject, tt.err)
		}
	}
}
