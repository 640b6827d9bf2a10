package codec

import "testing"

func TestPathUnder(t *testing.T) {
	for _, tt := range []struct {
		p, under string
		want     bool
	}{
		{"DB.Port", "", true},
		{"DB.Port", "DB", true},
		{"DB", "DB", true},
		{`DB["x"]`, "DB", true},
		{"DBX", "DB", false},
		{"DB.PortX", "DB.Port", false},
		{`M["a.b"]`, `M["a"]`, false},
		{`M["a.b"].X`, `M["a.b"]`, true},
		{`M["a.b"]`, "M", true},
		{`M["a]b"][2]`, `M["a]b"]`, true},
		{"Hosts[1]", "Hosts[10]", false},
		{"Hosts[10]", "Hosts[1]", false},
		{"Hosts[1].X", "Hosts[1]", true},
		{"DB.Port", "DB.", false},
		{"DB.Port", `M["a`, false},
	} {
		if got := PathUnder(tt.p, tt.under); got != tt.want {
			t.Errorf("PathUnder(%q, %q) = %v, want %v", tt.p, tt.under, got, tt.want)
		}
	}
}
