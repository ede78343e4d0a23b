package store

import (
	"bytes"
	"strconv"
	"unsafe"
)

// PostgreSQL arrays as text literals ('{"a","b"}', '{1,2}'), the form a
// batch's unnest arrays are sent in: pgx passes a string parameter in text
// format as it is, and PostgreSQL parses it, where pgx's binary array
// encoding looks up a plan and boxes every element (half of a join
// batch's commit CPU at the owner). Elements are always quoted, so that
// only '"' and '\' need escaping; there are no NULLs. A byte PostgreSQL's
// text cannot hold (NUL, invalid UTF-8) is refused by it as it was in
// binary form.

// pgTextArray is vals as a TEXT[] literal.
func pgTextArray[S ~string | ~[]byte](vals []S) string {
	n := 2
	for _, v := range vals {
		n += len(v) + 3
	}
	b := make([]byte, 0, n+n/16)
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for from := 0; from < len(v); {
			j := from
			for j < len(v) && v[j] != '"' && v[j] != '\\' {
				j++
			}
			b = append(b, v[from:j]...)
			if j < len(v) {
				b = append(b, '\\', v[j])
				j++
			}
			from = j
		}
		b = append(b, '"')
	}
	b = append(b, '}')
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not written to again
}

// unitSeparator separates the values of a pgSeparated list.
const unitSeparator = 0x1f

// pgSeparated is vals joined by the ASCII unit separator, for
// string_to_array($n, chr(31)): copied as they are, where a TEXT[] literal
// escapes every '"' of a JSON payload (a tenth of its bytes, and most of
// the literal's cost). ok is false when a value holds the separator (a
// JSON encoder escapes control characters: a payload never does), or when
// the list would be "", which string_to_array reads as no values (none, or
// one empty value).
func pgSeparated(vals [][]byte) (list string, ok bool) {
	if len(vals) == 0 {
		return "", false
	}
	size := len(vals) - 1 // the separators
	for _, v := range vals {
		if bytes.IndexByte(v, unitSeparator) >= 0 {
			return "", false
		}
		size += len(v)
	}
	if size == 0 {
		return "", false
	}
	b := make([]byte, 0, size)
	for i, v := range vals {
		if i > 0 {
			b = append(b, unitSeparator)
		}
		b = append(b, v...)
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), true // b is not written to again
}

// pgInt64Array is vals as a BIGINT[] literal.
func pgInt64Array(vals []int64) string {
	b := make([]byte, 0, 2+len(vals)*14)
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '}')
	return unsafe.String(unsafe.SliceData(b), len(b))
}
