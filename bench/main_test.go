package main

import "testing"

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
