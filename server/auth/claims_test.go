package auth

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode"
	"unicode/utf8"
)

// reflectClaims decodes as encoding/json did before claims had its own
// decoder (same fields, no methods of claims).
type reflectClaims claims

// The generated decoder reads every token's claims as encoding/json does:
// the same fields, and an error for the same inputs.
func TestClaimsCodec(t *testing.T) {
	for _, in := range []string{
		`{"mid":"m1","gen":3,"iss":"stagekit","sub":"p1","aud":["stagekit-signal"],"exp":1750000300,"nbf":1750000000,"iat":1750000000,"jti":"j"}`,
		`{"mid":"m1","sub":"p1","aud":"stagekit-signal","exp":1750000300.5,"iat":1750000000}`,
		`{"sub":"p1","mid":"m1","extra":{"nested":[1,2,{"a":null}]},"exp":1750000300}`,
		`{"mid":null,"sub":"p1","exp":null,"aud":null,"gen":null}`,
		`{"mid":"a\u00e9\"b","sub":"p\\1"}`,
		`{"mid":"m1","mid":"m2"}`,
		`{}`,
		`null`,
		`{"mid":5}`,
		`{"gen":"3"}`,
		`{"gen":1.5}`,
		`{"exp":"soon"}`,
		`{"aud":[1]}`,
		`{"mid":"m1"`,
		`{"mid":"m1"} x`,
		`[]`,
		``,
	} {
		var got claims
		gotErr := json.Unmarshal([]byte(in), &got) // through UnmarshalJSON
		var want reflectClaims
		wantErr := json.Unmarshal([]byte(in), &want)
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json's %v", in, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, claims(want)) {
			t.Errorf("%s:\n got %+v\nwant %+v", in, got, want)
		}
	}
}

// FuzzClaimsCodec: for any input encoding/json reads into the claims, the
// generated decoder reads the same (keys as tokens write them, lower-case
// ASCII: encoding/json also matches keys case-insensitively, with Unicode
// folding, and replaces invalid UTF-8 in strings, which the generated
// decoder keeps as it is: no token this server signs has either, and a
// token's claims count only once its signature checked out).
func FuzzClaimsCodec(f *testing.F) {
	f.Add(`{"mid":"m1","gen":3,"iss":"stagekit","sub":"p1","aud":["stagekit-signal"],"exp":1750000300,"iat":1750000000}`)
	f.Add(`{"mid":"m","aud":"a","exp":1.5,"x":[{"y":null}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var want reflectClaims
		if !utf8.ValidString(in) || json.Unmarshal([]byte(in), &want) != nil {
			return
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal([]byte(in), &keys) == nil {
			for k := range keys {
				for _, r := range k {
					if r >= utf8.RuneSelf || unicode.IsUpper(r) {
						return
					}
				}
			}
		}
		var got claims
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("%q: %v; encoding/json read %+v", in, err, want)
		}
		if !reflect.DeepEqual(got, claims(want)) {
			t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
		}
	})
}
