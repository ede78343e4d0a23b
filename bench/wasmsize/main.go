// Command wasmsize measures the browser SDK's download size and what each
// dependency costs in it.
//
//	go run ./bench/wasmsize [-sdk web/sdk] [-top 15] [-j 2] [-all] [-keep]
//
// It builds, with the flags of `make build-wasm` (GOOS=js GOARCH=wasm,
// -trimpath, -ldflags='-s -w'), tiny main packages that import one more
// dependency each — (a) hello with fmt; (b) + coder/websocket; (c) +
// jsbridge and hack-pad/safejs; (d) + the client core; (e) + pion/webrtc/v4
// — then (f) the real SDK (./wasm), (l) the SDK's own imports (jsbridge,
// client) and (n) those + pion, whose difference estimates what the media
// layer's pion would add to the SDK; -all adds each dependency alone on top
// of hello. It prints raw, gzip -9 -n and brotli -q 11 sizes
// (the Makefile's commands) and their deltas. Each variant calls into its
// dependencies with values the linker cannot see through, so their code is
// kept as a real caller would keep it; the variants attribute, the real SDK
// row is the authority; (g) is the SDK without inlining (noInlineFlags), the
// smaller download that starts slower.
//
// The variants are generated into bench/wasmsize/_variants (inside the
// module, so they build against its go.mod; ignored by ./... patterns) and
// removed afterwards; they are built with -buildvcs=false so that their
// bytes depend on their code only.
//
// It then prints what the SDK's bytes are: its wasm sections (code, data,
// the rest) and the function code grouped by Go package, read from the wasm
// "name" section of a build without -s (`go tool nm` does not read wasm; the
// names are the linker's, sanitized, mapped back to the import paths that
// `go list -deps` reports). That is function code only: the data section
// (read-only data, type descriptors, pclntab) is not attributed.
//
// Compressed sizes are cached by the wasm's SHA-256 in .cache/wasmsize, so a
// rerun with unchanged bytes does not recompress: brotli -q 11 takes seconds
// per megabyte.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// feature is one dependency as a variant uses it: its imports and a block of
// main's body. `arg` (os.Args[1], empty when run without arguments) keeps the
// calls alive: the linker cannot prove the branches dead.
type feature struct {
	name    string
	imports []string
	body    string
}

var features = map[string]feature{
	"fmt": {"fmt", []string{"fmt", "os"}, `
	fmt.Println("hello")
	arg := ""
	if len(os.Args) > 1 {
		arg = os.Args[1]
	}
	_ = arg
`},
	"websocket": {"coder/websocket", []string{"context", "github.com/coder/websocket"}, `
	if arg != "" {
		ctx := context.Background()
		c, _, err := websocket.Dial(ctx, arg, nil)
		if err == nil {
			_ = c.Write(ctx, websocket.MessageText, []byte(arg))
			_, b, _ := c.Read(ctx)
			fmt.Println(len(b))
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
	}
`},
	"jsbridge": {"jsbridge + hack-pad/safejs", []string{"syscall/js", "github.com/stagekit/stagekit/jsbridge"}, `
	if arg != "" {
		api := js.Global().Get("Object").New()
		em := jsbridge.NewEmitter()
		var opts struct {
			A string ` + "`json:\"a\"`" + `
			B []string ` + "`json:\"b\"`" + `
		}
		jsbridge.DefineAsyncMethod(api, "f", func(_ js.Value, args []js.Value) (any, error) {
			if len(args) == 0 || jsbridge.Decode(args[0], &opts) != nil {
				return nil, fmt.Errorf("bad args")
			}
			_ = em.Emit("x", map[string]any{"a": opts.A, "b": opts.B})
			return em.Value(), nil
		})
		jsbridge.DefineMethod(api, "g", func(js.Value, []js.Value) (any, error) { return []string{arg}, nil })
		jsbridge.DefineGetter(api, "n", func() (any, error) { return jsbridge.LiveFuncs(), nil })
		api.Set("err", jsbridge.ErrorToJS(fmt.Errorf("%s", arg)))
		js.Global().Set("__variant", api)
	}
`},
	"client": {"client core (client/, protocol/, stage/)", []string{"context", "github.com/stagekit/stagekit/client"}, `
	if arg != "" {
		ctx := context.Background()
		m, err := client.Init(ctx, client.Options{BaseURI: arg, AuthToken: arg})
		if err == nil {
			m.On(func(ev client.Event) { fmt.Println(ev.String()) })
			st := m.Stage()
			ids := []string{arg}
			fmt.Println(m.Join(ctx), st.RequestAccess(ctx), st.CancelRequestAccess(ctx),
				st.GrantAccess(ctx, ids), st.DenyAccess(ctx, ids), st.Kick(ctx, ids),
				st.Join(ctx), st.Leave(ctx))
			reqs, _ := st.GetAccessRequests(ctx)
			fmt.Println(len(reqs), m.Self().Name, len(m.Participants()), st.Status(), st.PeerID())
			_ = m.Leave(ctx)
		}
	}
`},
	"pion": {"pion/webrtc/v4", []string{"github.com/pion/webrtc/v4"}, `
	if arg != "" {
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{
			ICEServers: []webrtc.ICEServer{{URLs: []string{arg}}},
		})
		if err == nil {
			pc.OnICECandidate(func(c *webrtc.ICECandidate) {
				if c != nil {
					fmt.Println(c.String())
				}
			})
			pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { fmt.Println(s.String()) })
			_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo)
			if offer, err := pc.CreateOffer(nil); err == nil {
				_ = pc.SetLocalDescription(offer)
				_ = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: arg})
			}
			_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: arg})
			_ = pc.Close()
		}
	}
`},
}

// noInlineFlags build row g: inlining off except in the runtime. The code
// is ~3% larger raw but ~5% smaller brotli; the SDK ships inlined, whose Go
// start was 12–19 ms shorter in Chromium (bench/browser, paired rounds).
var noInlineFlags = []string{"-gcflags=all=-l", "-gcflags=runtime="}

// variant is one build: generated from features, or a package of the module.
type variant struct {
	key, label string
	features   []string // generated main; empty for pkg
	pkg        string   // existing package (the real SDK)
	base       string   // key of the row the delta is taken against
	noInline   bool     // built with noInlineFlags

	raw, gz, br int64
	sha         string
	buildTime   time.Duration
}

func variants(all bool) []*variant {
	chain := []string{"fmt"}
	var vs []*variant
	add := func(key, label, base string, fs ...string) {
		vs = append(vs, &variant{key: key, label: label, features: append([]string(nil), fs...), base: base})
	}
	add("a", "(a) hello: fmt", "", chain...)
	chain = append(chain, "websocket")
	add("b", "(b) a + coder/websocket", "a", chain...)
	chain = append(chain, "jsbridge")
	add("c", "(c) b + jsbridge, safejs", "b", chain...)
	chain = append(chain, "client")
	add("d", "(d) c + client core", "c", chain...)
	chain = append(chain, "pion")
	add("e", "(e) d + pion/webrtc/v4", "d", chain...)
	vs = append(vs, &variant{key: "f", label: "(f) the real SDK (./wasm)", pkg: "./wasm", base: "a"})
	vs = append(vs, &variant{key: "g", label: "(g) f without inlining", pkg: "./wasm", base: "f", noInline: true})
	add("l", "(l) hello + jsbridge + client (the SDK's imports)", "a", "fmt", "jsbridge", "client")
	add("n", "(n) l + pion/webrtc/v4", "l", "fmt", "jsbridge", "client", "pion")
	if all {
		add("j", "hello + jsbridge, safejs", "a", "fmt", "jsbridge")
		add("k", "hello + client core", "a", "fmt", "client")
		add("m", "hello + pion/webrtc/v4", "a", "fmt", "pion")
	}
	return vs
}

func source(fs []string) []byte {
	imports := map[string]bool{}
	var body strings.Builder
	for _, name := range fs {
		f := features[name]
		for _, imp := range f.imports {
			imports[imp] = true
		}
		body.WriteString(f.body)
	}
	var list []string
	for imp := range imports {
		list = append(list, imp)
	}
	sort.Strings(list)
	var b bytes.Buffer
	b.WriteString("//go:build js && wasm\n\n// Code generated by bench/wasmsize; removed after the build.\n\npackage main\n\nimport (\n")
	for _, imp := range list {
		fmt.Fprintf(&b, "\t%q\n", imp)
	}
	b.WriteString(")\n\nfunc main() {")
	b.WriteString(body.String())
	b.WriteString("}\n")
	return b.Bytes()
}

func main() {
	sdkDir := flag.String("sdk", "web/sdk", "directory of the SDK as `make build-wasm` builds it (its stagekit.wasm, .gz, .br are reported as served)")
	top := flag.Int("top", 15, "packages to list in the breakdown")
	jobs := flag.Int("j", 2, "parallel builds and compressions")
	keep := flag.Bool("keep", false, "keep the generated variants and builds (prints where)")
	all := flag.Bool("all", false, "also build each dependency alone on top of hello (4 more builds)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := run(ctx, *sdkDir, *top, *jobs, *keep, *all); err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, sdkDir string, top, jobs int, keep, all bool) error {
	for _, tool := range []string{"go", "gzip", "brotli"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (make setup installs brotli)", tool)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	// A fixed directory: the variants' import paths are in their build info,
	// so a random name would change their bytes (and miss the cache).
	tmp := filepath.Join(root, "bench", "wasmsize", "_variants")
	unlock, err := lock(tmp + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "wasmsize: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	cache := filepath.Join(root, ".cache", "wasmsize")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}

	vs := variants(all)
	for _, v := range vs {
		if v.pkg != "" {
			continue
		}
		dir := filepath.Join(tmp, v.key)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), source(v.features), 0o644); err != nil {
			return err
		}
	}

	start := time.Now()
	err = parallel(ctx, jobs, vs, func(v *variant) error {
		pkg := v.pkg
		if pkg == "" {
			pkg = "./" + filepath.ToSlash(mustRel(root, filepath.Join(tmp, v.key)))
		}
		out := filepath.Join(tmp, v.key+".wasm")
		t0 := time.Now()
		if err := goBuild(ctx, root, pkg, out, "-s -w", v.pkg == "", v.noInline); err != nil {
			return fmt.Errorf("%s: %w", v.label, err)
		}
		v.buildTime = time.Since(t0)
		return measure(ctx, cache, out, v)
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	byKey := map[string]*variant{}
	for _, v := range vs {
		byKey[v.key] = v
	}

	fmt.Printf("== wasm size (GOOS=js GOARCH=wasm go build -trimpath -ldflags='-s -w'; gzip -9 -n; brotli -q 11) ==\n")
	fmt.Println("bytes; Δ is against the row named in 'vs'")
	fmt.Printf("%-52s %11s %11s %11s   %-3s %11s %11s %11s\n", "build", "raw", "gzip -9", "brotli 11", "vs", "Δraw", "Δgz", "Δbr")
	row := func(v *variant) {
		fmt.Printf("%-52s %11s %11s %11s", v.label, num(v.raw), num(v.gz), num(v.br))
		if b := byKey[v.base]; b != nil {
			fmt.Printf("   %-3s %11s %11s %11s", "("+b.key+")", delta(v.raw-b.raw), delta(v.gz-b.gz), delta(v.br-b.br))
		}
		fmt.Println()
	}
	fmt.Println("-- cumulative, in the order of the issue --")
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		row(byKey[k])
	}
	fmt.Println("-- the SDK's own imports (on js the client uses the browser's WebSocket, not coder/websocket), then + pion --")
	row(byKey["l"])
	row(byKey["n"])
	if all {
		fmt.Println("-- each alone on top of hello --")
		for _, k := range []string{"j", "k", "m"} {
			row(byKey[k])
		}
	}

	sdk := byKey["f"]
	const target = 1_400_000 // issue 9: with pion's wasm backend
	fmt.Printf("\nSDK brotli %s bytes = %.3f MB (target ≤ 1.400 MB): %s\n", num(sdk.br), float64(sdk.br)/1e6, verdict(sdk.br, target))
	fmt.Printf("pion/webrtc/v4 in the SDK costs ≈ (n) − (l) = %s bytes brotli\n", num(byKey["n"].br-byKey["l"].br))

	if err := servedSizes(root, sdkDir, sdk); err != nil {
		fmt.Println("served SDK:", err)
	}

	// Breakdown of the SDK: a build that keeps the name section.
	named := filepath.Join(tmp, "sdk-named.wasm")
	if err := goBuild(ctx, root, "./wasm", named, "-w", false, true); err != nil {
		return err
	}
	stripped, err := os.ReadFile(filepath.Join(tmp, "f.wasm"))
	if err != nil {
		return err
	}
	withNames, err := os.ReadFile(named)
	if err != nil {
		return err
	}
	deps, err := goList(ctx, root, "./wasm")
	if err != nil {
		return err
	}
	if err := breakdown(stripped, withNames, newPackager(deps, "github.com/stagekit/stagekit/wasm"), top); err != nil {
		return fmt.Errorf("breakdown: %w", err)
	}
	fmt.Printf("\n(%d builds in %s; compressed sizes cached by SHA-256 in %s)\n", len(vs)+1, elapsed.Round(100*time.Millisecond), mustRel(root, cache))
	return nil
}

func verdict(n, target int64) string {
	if n <= target {
		return fmt.Sprintf("met, %s bytes to spare", num(target-n))
	}
	return fmt.Sprintf("MISSED by %s bytes (%.1f%%)", num(n-target), 100*float64(n-target)/float64(target))
}

// servedSizes reports the files `make build-wasm` wrote, which the server
// sends, and whether they are the bytes just measured.
func servedDir(root, sdkDir string) string {
	if filepath.IsAbs(sdkDir) {
		return sdkDir
	}
	return filepath.Join(root, sdkDir)
}

func servedSizes(root, sdkDir string, fresh *variant) error {
	dir := servedDir(root, sdkDir)
	raw, err := os.ReadFile(filepath.Join(dir, "stagekit.wasm"))
	if err != nil {
		return fmt.Errorf("not built (make build-wasm): %w", err)
	}
	size := func(name string) string {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return "missing"
		}
		return num(st.Size())
	}
	sum := sha256.Sum256(raw)
	same := "identical to the build above"
	if hex.EncodeToString(sum[:]) != fresh.sha {
		same = "DIFFERENT from the build above (stale: run make build-wasm)"
	}
	fmt.Printf("served %s/stagekit.wasm: raw %s, .gz %s, .br %s — %s\n",
		mustRel(root, dir), num(int64(len(raw))), size("stagekit.wasm.gz"), size("stagekit.wasm.br"), same)
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the stagekit module")
	}
	return filepath.Dir(gomod), nil
}

// goBuild builds pkg for js/wasm. noVCS leaves the VCS stamp out of the
// build info (generated variants: their bytes then depend on their code
// only); noInline adds noInlineFlags. The SDK is built as `make build-wasm`
// builds it.
func goBuild(ctx context.Context, root, pkg, out, ldflags string, noVCS, noInline bool) error {
	args := []string{"build", "-trimpath", "-ldflags=" + ldflags, "-o", out}
	if noVCS {
		args = append(args, "-buildvcs=false")
	}
	if noInline {
		args = append(args, noInlineFlags...)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, stderr.String())
	}
	return nil
}

// lock makes one wasmsize run at a time use the variants directory; a lock
// older than the run's own timeout is stale.
func lock(path string) (unlock func(), err error) {
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		st, serr := os.Stat(path)
		if serr != nil || time.Since(st.ModTime()) < 10*time.Minute {
			return nil, fmt.Errorf("another wasmsize run holds %s (remove it if none is running): %v", path, err)
		}
		os.Remove(path)
	}
	return nil, fmt.Errorf("cannot take %s", path)
}

// goList returns the import paths pkg links for js/wasm.
func goList(ctx context.Context, root, pkg string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.Fields(string(out)), nil
}

// measure fills raw, gz and br, from the cache when the bytes were seen.
func measure(ctx context.Context, cache, file string, v *variant) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	v.sha = hex.EncodeToString(sum[:])
	v.raw = int64(len(data))
	entry := filepath.Join(cache, v.sha)
	if b, err := os.ReadFile(entry); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			gz, err1 := strconv.ParseInt(f[0], 10, 64)
			br, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil && gz > 0 && br > 0 {
				v.gz, v.br = gz, br
				return nil
			}
		}
	}
	if v.gz, err = compressedSize(ctx, data, "gzip", "-9", "-n", "-c"); err != nil {
		return err
	}
	if v.br, err = compressedSize(ctx, data, "brotli", "-q", "11", "-c"); err != nil {
		return err
	}
	if v.gz <= 0 || v.br <= 0 {
		return fmt.Errorf("%s: gzip or brotli wrote nothing", v.label)
	}
	return os.WriteFile(entry, fmt.Appendf(nil, "%d %d\n", v.gz, v.br), 0o644)
}

func compressedSize(ctx context.Context, data []byte, name string, args ...string) (int64, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(data)
	var n countWriter
	cmd.Stdout = &n
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func parallel(ctx context.Context, jobs int, vs []*variant, fn func(*variant) error) error {
	if jobs < 1 {
		jobs = 1
	}
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fn(v); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func mustRel(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return r
}

func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func delta(n int64) string {
	if n >= 0 {
		return "+" + num(n)
	}
	return num(n)
}
