package attachhttp

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzContentDisposition: whatever the label, the header is one line that
// parses, keeps its disposition, and names a file without a path.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"", "a.txt", "résumé.pdf", "a\"b\\c", "x\r\nSet-Cookie: y", "../../etc/passwd", "%41", "a;b=c", "\u2028", "名前.png", "\x7f\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		for _, disp := range []string{"inline", "attachment"} {
			h := contentDisposition(disp, label)
			if strings.ContainsAny(h, "\r\n\x00") {
				t.Fatalf("label %q: header %q holds a line break or NUL", label, h)
			}
			got, params, err := mime.ParseMediaType(h)
			if err != nil || got != disp {
				t.Fatalf("label %q: header %q: %q, %v", label, h, got, err)
			}
			name := params["filename"]
			if strings.ContainsAny(name, "/\\") || !utf8.ValidString(name) {
				t.Fatalf("label %q: filename %q", label, name)
			}
		}
	})
}
