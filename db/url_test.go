package db

import (
	"strings"
	"testing"
)

// TestIsURLAnyCase: a URL scheme is case-insensitive (RFC 3986), so every
// letter case of postgres:// and postgresql:// names a server, and
// nothing else does.
func TestIsURLAnyCase(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"postgres://u@h/db", true},
		{"postgresql://u@h/db", true},
		{"POSTGRES://u:p@h/db", true},
		{"PostgreSQL://u:p@h/db", true},
		{"pOsTgReS://h", true},
		{"postgres:/h/db", false},
		{"./postgres://x", false},
		{"postgres.db", false},
		{":memory:", false},
		{"", false},
	} {
		if got := IsURL(tt.in); got != tt.want {
			t.Errorf("IsURL(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestRedact: no password survives, wherever the URL carries it and in
// whatever case its scheme is written; the rest still names the server.
func TestRedact(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string // kept
	}{
		{"postgres://agent:s3cret@db.example:5432/chats", []string{"agent", "db.example:5432", "/chats"}},
		{"POSTGRES://agent:s3cret@db.example/chats", []string{"postgres://", "agent", "db.example", "/chats"}},
		{"PostgreSQL://agent:s3cret@h/chats?sslmode=disable", []string{"postgresql://", "h", "sslmode=disable"}},
		{"postgres://agent@h/chats?password=s3cret&sslmode=disable", []string{"agent", "sslmode=disable"}},
		{"postgres://h/chats?PASSWORD=s3cret", []string{"h", "/chats"}},
		{"postgres://h/chats?sslpassword=s3cret", []string{"h"}},
		{"postgres://agent:s3cret@h:notaport/chats", nil},
		{"postgres://agent:s3cret@h/chats%zz", nil},
	} {
		got := Redact(tt.in)
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q: the password shows", tt.in, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Redact(%q) = %q, want it to keep %q", tt.in, got, w)
			}
		}
	}
}

// TestConnStringLowersTheScheme: pgx parses only a lower-case scheme as a
// URL, so the scheme is lowered and nothing else is touched.
func TestConnStringLowersTheScheme(t *testing.T) {
	for in, want := range map[string]string{
		"POSTGRES://U:P@H/DB":     "postgres://U:P@H/DB",
		"PostgreSQL://u@h/db?x=Y": "postgresql://u@h/db?x=Y",
		"postgres://u@h/db":       "postgres://u@h/db",
		"/tmp/POSTGRES://notaurl": "/tmp/POSTGRES://notaurl",
	} {
		if got := connString(in); got != want {
			t.Errorf("connString(%q) = %q, want %q", in, got, want)
		}
	}
}
