package store

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stagekit/stagekit/internal/clusterenv"
)

func TestPGArrayLiterals(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, `{}`},
		{[]string{""}, `{""}`},
		{[]string{"a", "b"}, `{"a","b"}`},
		{[]string{`say "hi"`}, `{"say \"hi\""}`},
		{[]string{`a\b`, `\`, `"`}, `{"a\\b","\\","\""}`},
		{[]string{"NULL", "{x,y}", " sp "}, `{"NULL","{x,y}"," sp "}`},
	} {
		if got := pgTextArray(tc.in); got != tc.want {
			t.Errorf("pgTextArray(%q) = %s, want %s", tc.in, got, tc.want)
		}
		bs := make([][]byte, len(tc.in))
		for i, s := range tc.in {
			bs[i] = []byte(s)
		}
		if got := pgTextArray(bs); got != tc.want {
			t.Errorf("pgTextArray(bytes of %q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := pgInt64Array([]int64{0, -1, 1700000000000, -9223372036854775808}); got != `{0,-1,1700000000000,-9223372036854775808}` {
		t.Errorf("pgInt64Array = %s", got)
	}
	if got := pgInt64Array(nil); got != `{}` {
		t.Errorf("pgInt64Array(nil) = %s", got)
	}
}

// PostgreSQL reads every literal back as the values it was made of: the
// tricky ones and random text (every printable byte PostgreSQL's text
// holds, quotes and backslashes dense), and bigints at the edges.
func TestPGArrayLiteralsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, clusterenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vals := []string{"", `"`, `\`, `\"`, `"\`, `\\`, `""`, "NULL", "null", "{}", "{", "}", ",", " ", " a ", "a,b", "tab\there",
		"new\nline", "é ü 漢字 🎤", `{"k":"v\"w","n":[1,2]}`, "'", "''", "$1", "\x01\x7f"}
	rng := rand.New(rand.NewPCG(1, 19))
	alphabet := []rune(`"\{},' ab` + "\t\n" + `é漢🎤0NULL`)
	for range 300 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		vals = append(vals, b.String())
	}
	for _, v := range vals {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("test value %q is not PostgreSQL text", v)
		}
	}
	var got []string
	if err := s.pool.QueryRow(ctx, `SELECT $1::TEXT[]`, pgTextArray(vals)).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, vals) {
		for i := range min(len(got), len(vals)) {
			if got[i] != vals[i] {
				t.Fatalf("element %d read back %q, sent %q", i, got[i], vals[i])
			}
		}
		t.Fatalf("read back %d elements, sent %d", len(got), len(vals))
	}
	bs := make([][]byte, len(vals))
	for i, v := range vals {
		bs[i] = []byte(v)
	}
	if err := s.pool.QueryRow(ctx, `SELECT $1::TEXT[]`, pgTextArray(bs)).Scan(&got); err != nil || !slices.Equal(got, vals) {
		t.Fatalf("bytes: read back %d elements (%v), sent %d", len(got), err, len(vals))
	}
	ints := []int64{0, 1, -1, 1 << 53, -(1 << 62), 9223372036854775807, -9223372036854775808}
	var gotInts []int64
	if err := s.pool.QueryRow(ctx, `SELECT $1::BIGINT[]`, pgInt64Array(ints)).Scan(&gotInts); err != nil || !slices.Equal(gotInts, ints) {
		t.Fatalf("bigints read back %v (%v), sent %v", gotInts, err, ints)
	}
	// The same values separated: read back as they were sent, however
	// many (one, empty ones, all), by the statement's string_to_array.
	for _, n := range []int{1, 2, 3, len(vals)} {
		for _, from := range []int{0, 1, 7} {
			if n == 1 && from == 0 {
				continue // "" alone: below
			}
			want := bs[min(from, len(bs)-n):][:n]
			list, ok := pgSeparated(want)
			if !ok {
				t.Fatalf("%d values from %d refused", n, from)
			}
			if err := s.pool.QueryRow(ctx, `SELECT string_to_array($1::TEXT, chr(31))`, list).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("separated: read back %d of %d values %q", len(got), len(want), want)
			}
			for i := range got {
				if got[i] != string(want[i]) {
					t.Fatalf("separated: value %d read back %q, sent %q", i, got[i], want[i])
				}
			}
		}
	}
	// A value holding the separator, no values, or one empty value (read
	// back as none) cannot be separated.
	for _, vs := range [][][]byte{{[]byte("a\x1fb")}, {[]byte("a"), []byte("\x1f")}, {}, {[]byte("")}} {
		if list, ok := pgSeparated(vs); ok {
			t.Errorf("%q separated as %q", vs, list)
		}
	}
	// A NUL is not text to PostgreSQL: refused, not cut short.
	if err := s.pool.QueryRow(ctx, `SELECT $1::TEXT[]`, pgTextArray([]string{"a\x00b"})).Scan(&got); err == nil {
		t.Fatalf("a NUL in an element was taken: read back %q", got)
	}
}
