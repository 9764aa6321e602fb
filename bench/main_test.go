package main

import (
	"bytes"
	"io"
	"testing"
)

func TestParseFlagsW1Ops(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr bool
	}{
		{name: "full default", args: nil, want: 300},
		{name: "quick default", args: []string{"-quick"}, want: 100},
		{name: "override", args: []string{"-w1-ops", "4000"}, want: 4000},
		{name: "override in quick mode", args: []string{"-quick", "-w1-ops", "7"}, want: 7},
		{name: "negative", args: []string{"-w1-ops", "-1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) = nil error, want one", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.w1Ops != tt.want {
				t.Errorf("parseFlags(%q): w1Ops = %d, want %d", tt.args, c.w1Ops, tt.want)
			}
		})
	}
}

func TestParseFlagsSourceRate(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		want    float64
		wantErr bool
	}{
		{nil, 0, false},
		{[]string{"-w5-source-mbps", "200"}, 200, false},
		{[]string{"-w5-source-mbps", "-1"}, 0, true},
	} {
		c, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Fatalf("parseFlags(%q): %v, want error %v", tt.args, err, tt.wantErr)
		}
		if err == nil && c.sourceMBps != tt.want {
			t.Errorf("parseFlags(%q): sourceMBps = %v, want %v", tt.args, c.sourceMBps, tt.want)
		}
	}
}

// TestPacedReaderYieldsItsSource checks that pacing changes neither the
// bytes nor their end, and that no read returns more than 64 KiB.
func TestPacedReaderYieldsItsSource(t *testing.T) {
	const n = 1<<20 + 123
	p := newPatternReader(n)
	want, err := io.ReadAll(&patternReader{tag: p.tag, n: n})
	if err != nil {
		t.Fatal(err)
	}
	r := &pacedReader{r: p, rate: 1e9}
	var got []byte
	buf := make([]byte, 256<<10)
	for {
		m, err := r.Read(buf)
		if m > 64<<10 {
			t.Fatalf("a read returned %d bytes, more than 64 KiB", m)
		}
		got = append(got, buf[:m]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("paced read gave %d bytes that differ from the source's %d", len(got), len(want))
	}
}
