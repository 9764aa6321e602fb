package attachstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on metadata.
const (
	MaxLabelBytes = 1 << 10  // Meta.Label
	MaxExtraBytes = 64 << 10 // Meta.Extra
	// DefaultMediaType is the media type of content put without one.
	DefaultMediaType = "application/octet-stream"
)

// Meta travels with content: a blob keeps the metadata of its first put;
// each ref keeps the metadata of the session's put that recorded it.
type Meta struct {
	// MediaType is a bare "type/subtype" (no parameters), stored lowercased.
	// Empty means DefaultMediaType.
	MediaType string `json:"media_type"`
	// Label is an optional display name such as a file name: valid UTF-8,
	// no NUL, at most MaxLabelBytes.
	Label string `json:"label,omitempty"`
	// Extra is an optional JSON object of at most MaxExtraBytes (for
	// example an image's width and height), stored compacted.
	Extra json.RawMessage `json:"extra,omitempty"`
}

// Validate reports whether m is acceptable, as an error matching
// ErrInvalidMeta.
func (m Meta) Validate() error {
	_, err := m.normalize()
	return err
}

// normalize validates m and returns the form that is stored.
func (m Meta) normalize() (Meta, error) {
	mt := strings.ToLower(m.MediaType)
	if mt == "" {
		mt = DefaultMediaType
	}
	if !validMediaType(mt) {
		return Meta{}, fmt.Errorf("%w: media type %q: want a bare type/subtype", ErrInvalidMeta, truncate(m.MediaType, 80))
	}
	if len(m.Label) > MaxLabelBytes {
		return Meta{}, fmt.Errorf("%w: label is %d bytes, at most %d", ErrInvalidMeta, len(m.Label), MaxLabelBytes)
	}
	if !utf8.ValidString(m.Label) || strings.ContainsRune(m.Label, 0) {
		return Meta{}, fmt.Errorf("%w: label %q: want valid UTF-8 without NUL", ErrInvalidMeta, truncate(m.Label, 80))
	}
	out := Meta{MediaType: mt, Label: m.Label}
	if len(m.Extra) > 0 {
		if len(m.Extra) > MaxExtraBytes {
			return Meta{}, fmt.Errorf("%w: extra is %d bytes, at most %d", ErrInvalidMeta, len(m.Extra), MaxExtraBytes)
		}
		// Only JSON's own whitespace: bytes.TrimSpace would also drop a
		// \v or \f that makes the text invalid JSON (found by fuzzing).
		t := bytes.Trim(m.Extra, " \t\r\n")
		if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
			return Meta{}, fmt.Errorf("%w: extra must be a JSON object", ErrInvalidMeta)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, t); err != nil {
			return Meta{}, fmt.Errorf("%w: extra: %w", ErrInvalidMeta, err)
		}
		out.Extra = buf.Bytes()
	}
	return out, nil
}

// validMediaType accepts RFC 6838 restricted names: type "/" subtype, each
// 1–127 characters, starting with a letter or digit.
func validMediaType(s string) bool {
	typ, sub, ok := strings.Cut(s, "/")
	return ok && restrictedName(typ) && restrictedName(sub)
}

func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Ref describes a blob as a put, Stat, List or Reader returns it. It is not
// a ref in the manifest's sense (a session's reference to a blob, listed
// as an Entry, which embeds its blob's Ref); see the package doc.
type Ref struct {
	ID   ID    `json:"id"`
	Size int64 `json:"size"`
	Meta
	// CreatedAt is when the content was first stored.
	CreatedAt time.Time `json:"created_at"`
}

// Attachment is content with its bytes.
type Attachment struct {
	Ref
	Data []byte
}

// extraArg is how Extra is bound: NULL when absent.
func extraArg(e json.RawMessage) any {
	if len(e) == 0 {
		return nil
	}
	return string(e)
}

func extraFrom(s *string) json.RawMessage {
	if s == nil || *s == "" {
		return nil
	}
	return json.RawMessage(*s)
}
