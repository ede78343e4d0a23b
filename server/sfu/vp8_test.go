package sfu

import (
	"bytes"
	"testing"
)

// The picture id and TL0PICIDX are found where RFC 7741 puts them, and
// patching a copy changes those bytes only.
func TestVP8Pic(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    vp8Pic
	}{
		{"no extension", []byte{0x10, 0x00, 0x00}, vp8Pic{}},
		{"extension, no fields", []byte{0x90, 0x00, 0x00}, vp8Pic{}},
		{"7-bit picture id", []byte{0x90, 0x80, 0x25, 0x00}, vp8Pic{pid: 0x25, pidAt: 2, pidLen: 1}},
		{"15-bit picture id and TL0PICIDX", []byte{0x90, 0xc0, 0x81, 0x02, 0x09, 0x00}, vp8Pic{pid: 0x102, pidAt: 2, pidLen: 2, tl0: 9, tl0At: 4}},
		{"TL0PICIDX alone", []byte{0x90, 0x40, 0x07, 0x00}, vp8Pic{tl0: 7, tl0At: 2}},
		{"truncated picture id", []byte{0x90, 0x80, 0x81}, vp8Pic{}},
		{"truncated TL0PICIDX", []byte{0x90, 0xc0, 0x05}, vp8Pic{}},
		{"empty", nil, vp8Pic{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseVP8Pic(tc.payload)
			if got != tc.want {
				t.Fatalf("parseVP8Pic(% x) = %+v, want %+v", tc.payload, got, tc.want)
			}
		})
	}
	b := []byte{0x90, 0xc0, 0x81, 0x02, 0x09, 0xaa}
	v := parseVP8Pic(b)
	v.pid, v.tl0 = 0x7ffe, 200
	patchVP8Pic(b, v)
	if want := []byte{0x90, 0xc0, 0xff, 0xfe, 200, 0xaa}; !bytes.Equal(b, want) {
		t.Fatalf("patched % x, want % x", b, want)
	}
	if got := parseVP8Pic(b); got != v {
		t.Fatalf("read back %+v, want %+v", got, v)
	}
}

// Any payload parses without a panic, to offsets inside it, and patching
// what was parsed reads back the same and changes nothing else.
func FuzzVP8Pic(f *testing.F) {
	f.Add([]byte{0x90, 0xc0, 0x81, 0x02, 0x09, 0x00}, uint16(5), uint8(3))
	f.Add([]byte{0x90, 0x80, 0x25}, uint16(900), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, pid uint16, tl0 uint8) {
		v := parseVP8Pic(b)
		if v.pidAt != 0 && int(v.pidAt)+int(v.pidLen) > len(b) || v.tl0At != 0 && int(v.tl0At) >= len(b) {
			t.Fatalf("%+v out of % x", v, b)
		}
		c := append([]byte(nil), b...)
		v.pid, v.tl0 = pid&v.pidMask(), tl0
		patchVP8Pic(c, v)
		got := parseVP8Pic(c)
		if v.pidAt == 0 {
			v.pid = 0
		}
		if v.tl0At == 0 {
			v.tl0 = 0
		}
		if got != v {
			t.Fatalf("read back %+v, want %+v", got, v)
		}
		for i := range b {
			in := v.pidAt != 0 && i >= int(v.pidAt) && i < int(v.pidAt)+int(v.pidLen) || v.tl0At != 0 && i == int(v.tl0At)
			if !in && b[i] != c[i] {
				t.Fatalf("byte %d changed", i)
			}
		}
	})
}
