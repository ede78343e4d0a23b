package validate

import "testing"

func TestText(t *testing.T) {
	cases := []struct {
		v        string
		max      int
		required bool
		ok       bool
	}{
		{"Ada", 10, true, true},
		{"", 10, false, true},
		{"", 10, true, false},
		{"elevenbytes", 10, false, false},
		{"tab\there", 60, true, false},
		{"new\nline", 60, true, false},
		{"bell\x07", 60, true, false},
		{"del\x7f", 60, true, false},
		{"c1\u0085", 60, true, false},
		{"Zoë 🎤", 60, true, true},
	}
	for _, c := range cases {
		if err := Text("name", c.v, c.max, c.required); (err == nil) != c.ok {
			t.Errorf("Text(%q, %d, %v) = %v, want ok %v", c.v, c.max, c.required, err, c.ok)
		}
	}
	if err := Text("title", "a\x00", 10, false); err == nil || err.Error() != "title contains control characters" {
		t.Errorf("message %v", err)
	}
}
