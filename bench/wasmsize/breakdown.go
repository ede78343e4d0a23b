package main

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// module is what breakdown needs of a wasm binary.
type module struct {
	sections     []section
	importFuncs  int     // imported functions come first in the index space
	bodies       []int64 // code section: size of each defined function's body
	funcNames    map[int]string
	dataSegments int
}

type section struct {
	id   byte
	name string // custom sections
	size int64  // payload bytes
}

var sectionNames = map[byte]string{
	0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
	6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount",
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail()
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated or malformed wasm")
	}
	r.off = len(r.b)
}

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail()
	return 0
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.fail()
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) name() string { return string(r.bytes(r.uleb())) }

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.uleb()
	}
	r.uleb()
}

func parseWasm(b []byte) (*module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm binary")
	}
	m := &module{funcNames: map[int]string{}}
	r := &reader{b: b, off: 8}
	for r.off < len(b) && r.err == nil {
		id := r.byte()
		size := r.uleb()
		payload := r.bytes(size)
		if r.err != nil {
			break
		}
		s := section{id: id, size: int64(size)}
		p := &reader{b: payload}
		switch id {
		case 0:
			s.name = p.name()
			if s.name == "name" {
				parseNames(p, m)
			}
		case 2:
			for n := p.uleb(); n > 0 && p.err == nil; n-- {
				p.name()
				p.name()
				switch p.byte() {
				case 0:
					p.uleb()
					m.importFuncs++
				case 1:
					p.byte()
					p.limits()
				case 2:
					p.limits()
				case 3:
					p.byte()
					p.byte()
				default:
					p.fail()
				}
			}
		case 10:
			for n := p.uleb(); n > 0 && p.err == nil; n-- {
				sz := p.uleb()
				p.bytes(sz)
				m.bodies = append(m.bodies, int64(sz))
			}
		case 11:
			m.dataSegments = int(p.uleb())
		}
		if p.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, p.err)
		}
		m.sections = append(m.sections, s)
	}
	return m, r.err
}

// parseNames reads the function names subsection (id 1) of "name".
func parseNames(p *reader, m *module) {
	for p.off < len(p.b) && p.err == nil {
		id := p.byte()
		sub := &reader{b: p.bytes(p.uleb())}
		if id != 1 {
			continue
		}
		for n := sub.uleb(); n > 0 && sub.err == nil; n-- {
			idx := sub.uleb()
			m.funcNames[int(idx)] = sub.name()
		}
	}
}

// nameRegexp is the Go wasm linker's sanitizer of function names
// (cmd/link/internal/wasm: every rune but [\w.] becomes "_"):
// "github.com/a/b.(*T).M" is named "github.com_a_b.__T_.M".
var nameRegexp = regexp.MustCompile(`[^\w.]`)

// packager maps sanitized function names back to Go import paths, using the
// packages the build linked (go list -deps).
type packager struct {
	bySanitized map[string]string
	maxLen      int
}

func newPackager(pkgs []string, mainPkg string) *packager {
	p := &packager{bySanitized: map[string]string{"main": mainPkg}}
	for _, path := range pkgs {
		s := nameRegexp.ReplaceAllString(path, "_")
		p.bySanitized[s] = path
		p.maxLen = max(p.maxLen, len(s))
	}
	return p
}

// pkgOf returns the import path of the package a function belongs to: the
// longest linked package whose sanitized path, followed by ".", prefixes the
// name. Compiler-generated functions ("type:.eq.…", named "type_.eq.…") and
// names no package explains are grouped apart.
func (p *packager) pkgOf(name string) string {
	if strings.HasPrefix(name, "type_.") || strings.HasPrefix(name, "go_") {
		return "(compiler-generated: type equality, wrappers)"
	}
	for i := min(len(name)-1, p.maxLen); i > 0; i-- {
		if name[i] != '.' {
			continue
		}
		if path, ok := p.bySanitized[name[:i]]; ok {
			return path
		}
	}
	return "(unattributed)"
}

// origin groups a package: the Go runtime and standard library, this module,
// or the third-party module it belongs to.
func origin(pkg string) string {
	first, _, _ := strings.Cut(pkg, "/")
	switch {
	case strings.HasPrefix(pkg, "("):
		return pkg
	case strings.HasPrefix(pkg, "github.com/stagekit/stagekit"):
		return "stagekit (this module)"
	case !strings.Contains(first, "."):
		if pkg == "runtime" || strings.HasPrefix(pkg, "internal/") || strings.HasPrefix(pkg, "runtime/") {
			return "Go runtime + internal/*"
		}
		return "Go standard library (the rest)"
	}
	parts := strings.Split(pkg, "/")
	if len(parts) >= 3 {
		return strings.Join(parts[:3], "/")
	}
	return pkg
}

func breakdown(stripped, named []byte, pkgs *packager, top int) error {
	ms, err := parseWasm(stripped)
	if err != nil {
		return err
	}
	fmt.Printf("\n== what the SDK's %s bytes are (wasm sections of the -s -w build) ==\n", num(int64(len(stripped))))
	for _, s := range ms.sections {
		label := sectionNames[s.id]
		if s.id == 0 {
			label = "custom " + s.name
		}
		extra := ""
		switch s.id {
		case 10:
			extra = fmt.Sprintf("%d function bodies", len(ms.bodies))
		case 11:
			extra = fmt.Sprintf("%d segments: read-only data, type descriptors, pclntab, initialized vars", ms.dataSegments)
		}
		if s.size < 1024 && extra == "" {
			continue
		}
		fmt.Printf("  %-18s %11s  %5.1f%%  %s\n", label, num(s.size), 100*float64(s.size)/float64(len(stripped)), extra)
	}

	mn, err := parseWasm(named)
	if err != nil {
		return err
	}
	if len(mn.funcNames) == 0 {
		return errors.New("the build without -s has no name section")
	}
	byPkg := map[string]int64{}
	byOrigin := map[string]int64{}
	count := map[string]int{}
	var total int64
	for i, sz := range mn.bodies {
		name := mn.funcNames[mn.importFuncs+i]
		if name == "" {
			name = "?"
		}
		p := pkgs.pkgOf(name)
		byPkg[p] += sz
		byOrigin[origin(p)] += sz
		count[p]++
		total += sz
	}
	fmt.Printf("\n== function code by Go package (code section, %s bytes in %d functions; from the name section of a -w build) ==\n", num(total), len(mn.bodies))
	fmt.Println("   (code only: the data section above is not attributed; sizes are raw, before compression)")
	type kv struct {
		k string
		v int64
	}
	sorted := func(m map[string]int64) []kv {
		var out []kv
		for k, v := range m {
			out = append(out, kv{k, v})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].v != out[j].v {
				return out[i].v > out[j].v
			}
			return out[i].k < out[j].k
		})
		return out
	}
	pk := sorted(byPkg)
	var shown int64
	for i, e := range pk {
		if i >= top {
			break
		}
		shown += e.v
		fmt.Printf("  %2d. %-52s %10s  %5.1f%%  %5d funcs\n", i+1, e.k, num(e.v), 100*float64(e.v)/float64(total), count[e.k])
	}
	if len(pk) > top {
		fmt.Printf("      %-52s %10s  %5.1f%%\n", fmt.Sprintf("(%d other packages)", len(pk)-top), num(total-shown), 100*float64(total-shown)/float64(total))
	}
	fmt.Println("\n  by origin:")
	for _, e := range sorted(byOrigin) {
		fmt.Printf("      %-52s %10s  %5.1f%%\n", e.k, num(e.v), 100*float64(e.v)/float64(total))
	}
	return nil
}
