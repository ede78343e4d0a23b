package sfu

import "testing"

func TestMayProduce(t *testing.T) {
	s := &SFU{}
	if !s.mayProduce("m", "u", "video") {
		t.Fatal("a user never set may not produce")
	}
	s.SetMayProduce("m", "u", func(kind string) bool { return kind == "audio" })
	if !s.mayProduce("m", "u", "audio") || s.mayProduce("m", "u", "video") || !s.mayProduce("m", "other", "video") || !s.mayProduce("n", "u", "video") {
		t.Fatal("rules not per (meeting, user, kind)")
	}
	s.SetMayProduce("m", "u", func(string) bool { return true })
	if !s.mayProduce("m", "u", "video") || len(s.produce.denied) != 0 {
		t.Fatal("allowing every kind did not forget the rules")
	}
}
