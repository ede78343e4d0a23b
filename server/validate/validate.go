// Package validate holds the checks that every HTTP API of the server (the
// admin REST API, the demo API) applies to text it stores, so that they
// refuse the same input.
package validate

import (
	"fmt"
	"strings"
	"unicode"
)

// Text checks a text field: present when required, at most max bytes, no
// control characters. The error's message names the field.
func Text(field, v string, max int, required bool) error {
	if required && v == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(v) > max {
		return fmt.Errorf("%s is longer than %d bytes", field, max)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s contains control characters", field)
	}
	return nil
}
