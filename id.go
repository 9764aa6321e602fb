package attachstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// ID identifies content: the SHA-256 of its bytes. Equal bytes have equal
// ids, so an ID names the content wherever and whenever it was stored.
type ID [32]byte

// ContentID returns the ID of data.
func ContentID(data []byte) ID { return sha256.Sum256(data) }

// ParseID parses 64 hexadecimal digits (either case), optionally prefixed
// with "sha256:" (in any case, as the digits). Anything else is
// ErrInvalidID.
func ParseID(s string) (ID, error) {
	var id ID
	h := s
	if len(h) >= 7 && strings.EqualFold(h[:7], "sha256:") {
		h = h[7:]
	}
	if len(h) != 2*len(id) {
		return ID{}, fmt.Errorf("%w: %q: want 64 hex digits", ErrInvalidID, truncate(s, 80))
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: not hexadecimal", ErrInvalidID, truncate(s, 80))
	}
	return id, nil
}

// String returns the id as 64 lowercase hexadecimal digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID, which names no content.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler: the String form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseID's rules.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
