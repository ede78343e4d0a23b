package rest

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestREADMEErrorTable keeps the README's HTTP error table equal to the codes
// declared here: every "Code… = N // [S] …" constant is a "| S | N | … |" row,
// and the table has no other row.
func TestREADMEErrorTable(t *testing.T) {
	src, err := os.ReadFile("rest.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[int]int{} // code → status
	for _, m := range regexp.MustCompile(`(?m)^\s*Code\w+\s*=\s*(\d+)\s*// \[(\d+)\]`).FindAllSubmatch(src, -1) {
		code, _ := strconv.Atoi(string(m[1]))
		status, _ := strconv.Atoi(string(m[2]))
		declared[code] = status
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d codes in rest.go", len(declared))
	}
	documented := map[int]int{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d{3}) \| (\d{4}) \|`).FindAllSubmatch(readme, -1) {
		status, _ := strconv.Atoi(string(m[1]))
		code, _ := strconv.Atoi(string(m[2]))
		documented[code] = status
	}
	for code, status := range declared {
		if got, ok := documented[code]; !ok || got != status {
			t.Errorf("code %d (HTTP %d): README row %v", code, status, documentedRow(got, ok))
		}
	}
	for code, status := range documented {
		if _, ok := declared[code]; !ok {
			t.Errorf("README documents code %d (HTTP %d), which rest.go does not declare", code, status)
		}
	}
}

func documentedRow(status int, ok bool) string {
	if !ok {
		return "missing"
	}
	return "says HTTP " + strconv.Itoa(status)
}
