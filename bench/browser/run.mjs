#!/usr/bin/env node
// Browser SDK benchmarks in headless Chromium on loopback, against the real
// server binary (bin/stageserver) and the SDK as `make build` leaves it in
// web/sdk. Prints figures; it is not a test (it fails only when something
// does not work).
//
//   node bench/browser/run.mjs [--cold 30] [--warm 30] [--pairs 200]
//                              [--no-native] [--trace FILE] [--js-flags FLAGS]
//
// `make bench-browser` runs it with the defaults and --trace: one more cold
// sample traced by Chromium, summarized per phase (lazy wasm compilation on
// the main thread, compilation on other threads).
//
// 1. init → join, cold: each sample is a new browser context (its own HTTP
//    cache and renderer process, so stagekit.js, wasm_exec.js and the wasm are
//    fetched and compiled anew) on /demo/blank.html; timed in the page with
//    performance.now() from before `import('/sdk/stagekit.js')` to
//    `await meeting.join()` resolved, and split with Resource Timing and two
//    hooks that do not change the loader's path (a wrapper around
//    WebAssembly.instantiateStreaming, and one around the Go side's ready
//    callback).
// 2. init → join, warm: one page where the SDK is already loaded (a first,
//    untimed init+join+leave); each sample times StageKit.init() and join()
//    of a new participant.
// 3. stage round trip: `await meeting.stage.requestAccess()` then
//    `await meeting.stage.cancelRequestAccess()`, each call timed in the
//    page; then the same calls from the native client core
//    (bench/roundtrip's BenchmarkRequestCancelNative, run against the same
//    server process).
//
// Every participant is created through the REST API; every wait is bounded.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { root, startServer, launch as libLaunch, chromiumArgs } from "../../e2e/lib.mjs";

function launch() {
  if (!JS_FLAGS) return libLaunch();
  return chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...chromiumArgs, `--js-flags=${JS_FLAGS}`] });
}

const API_KEY = "bench-browser-key"; // given to the server after lib's own -api-key: the last flag wins
const PAIRS_PER_VIEWER = 40; // see bench/roundtrip: 80 calls + hello + join stay within the server's burst of 100
const WARMUP_PAIRS = 5;
const TARGET_JOIN_P50_MS = 250;

// --- arguments ---------------------------------------------------------------
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  if (typeof def === "number") {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) die(`--${name} needs a positive integer`);
    return n;
  }
  return v;
}
const N_COLD = opt("cold", 30);
const N_WARM = opt("warm", 30);
const N_PAIRS = opt("pairs", 200);
const NATIVE = !args.includes("--no-native");
const TRACE = opt("trace", "");
// Experiments only (not part of make bench-browser): extra V8 flags for
// Chromium, e.g. --js-flags "--no-wasm-tier-up --no-wasm-dynamic-tiering".
const JS_FLAGS = opt("js-flags", "");

function die(msg) {
  console.error("bench-browser:", msg);
  process.exit(1);
}

// --- helpers -----------------------------------------------------------------
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function rest(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}

/** Creates n participants of a meeting, 8 requests at a time; returns their tokens in order. */
async function participants(url, meetingId, prefix, n, preset = "webinar_viewer") {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(8, n) }, async () => {
      while (next < n) {
        const i = next++;
        const p = await rest(url, "POST", `/v1/meetings/${meetingId}/participants`, { name: `${prefix}-${i}`, preset_name: preset });
        out[i] = p.token;
      }
    }),
  );
  return out;
}

/** Nearest-rank percentile (same as bench/roundtrip). */
function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.max(rank, 1) - 1];
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(1) : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

// Columns: p50/p90/max for the 30-sample runs (their p99 would be the max),
// p50/p90/p99/max for the round trips.
const COLS_SHORT = [50, 90, "max"];
const COLS_LONG = [50, 90, 99, "max"];

function statsRow(label, values, cols = COLS_SHORT, fmt = ms, width = 9) {
  if (values.length === 0) return `  ${padEnd(label, 46)} (no samples)`;
  const cell = (c) => pad(fmt(c === "max" ? Math.max(...values) : pct(values, c)), width);
  return `  ${padEnd(label, 46)}${cols.map(cell).join("")}`;
}
function statsHeader(unit, cols = COLS_SHORT, width = 9) {
  return `  ${padEnd(`(${unit})`, 46)}${cols.map((c) => pad(c === "max" ? "max" : `p${c}`, width)).join("")}`;
}

// --- in-page probes (run by page.evaluate; they must be self-contained) -----

/** Cold: loads the SDK into a fresh page, init, join; returns timestamps (ms, page clock). */
async function coldProbe({ token }) {
  const t = {};
  const now = () => performance.now();
  const instantiate = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = function (...a) {
    t.instantiate = now();
    return instantiate.apply(this, a).then((r) => {
      t.compiled = now();
      performance.mark("stagekit:compiled");
      return r;
    });
  };
  let ready;
  Object.defineProperty(globalThis, "__stagekitReady", {
    configurable: true,
    get: () => ready,
    set: (f) => {
      ready = typeof f === "function" ? (api) => ((t.goReady = now()), performance.mark("stagekit:goReady"), f(api)) : f;
    },
  });
  performance.mark("stagekit:start");
  t.start = now();
  const { default: StageKit } = await import("/sdk/stagekit.js");
  t.imported = now();
  performance.mark("stagekit:imported");
  const meeting = await StageKit.init({ authToken: token, baseURI: location.origin });
  t.init = now();
  performance.mark("stagekit:init");
  await meeting.join();
  t.join = now();
  performance.mark("stagekit:join");
  performance.measure("stagekit:init→join", "stagekit:start", "stagekit:join");
  const res = (suffix) => {
    const e = performance.getEntriesByType("resource").find((r) => r.name.endsWith(suffix));
    return e && { start: e.startTime, responseStart: e.responseStart, end: e.responseEnd, encoded: e.encodedBodySize, decoded: e.decodedBodySize, transfer: e.transferSize };
  };
  t.wasm = res("/sdk/stagekit.wasm");
  t.wasmExec = res("/sdk/wasm_exec.js");
  t.status = meeting.stage.status;
  await meeting.leave();
  return t;
}

/** Warm: the first init loads the SDK (untimed); then times init and join per token. */
async function warmProbe({ tokens }) {
  const { default: StageKit } = await import("/sdk/stagekit.js");
  const first = await StageKit.init({ authToken: tokens[0], baseURI: location.origin });
  await first.join();
  await first.leave();
  const out = [];
  for (const token of tokens.slice(1)) {
    const t0 = performance.now();
    const meeting = await StageKit.init({ authToken: token, baseURI: location.origin });
    const t1 = performance.now();
    await meeting.join();
    const t2 = performance.now();
    out.push({ init: t1 - t0, join: t2 - t1, total: t2 - t0 });
    await meeting.leave();
  }
  return out;
}

/**
 * Round trip: per viewer token, init+join (untimed), then pairs of timed
 * calls, then leave. Then the same messages over a bare browser WebSocket
 * (no SDK: JSON.stringify, send, wait for the answer with that id), with
 * rawTokens: the browser's own share of a call.
 */
async function roundTripProbe({ warmupToken, tokens, rawTokens, pairs, perViewer, warmupPairs }) {
  const { default: StageKit } = await import("/sdk/stagekit.js");
  const req = [];
  const cancel = [];
  const raw = [];
  const rawRun = async (token, n, record) => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/v1/ws");
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onclose = () => reject(new Error("raw websocket closed"));
    });
    let id = 0;
    const waiting = new Map();
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      const done = waiting.get(m.id);
      if (done && (m.type === "result" || m.type === "error")) {
        waiting.delete(m.id);
        done(m);
      }
    };
    const call = async (type, extra) => {
      const m = await new Promise((resolve) => {
        const i = ++id;
        waiting.set(i, resolve);
        ws.send(JSON.stringify({ v: 1, id: i, type, ...extra }));
      });
      if (m.type !== "result") throw new Error(`raw ${type}: ${JSON.stringify(m.error)}`);
    };
    await call("hello", { token });
    await call("join");
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await call("stage.request");
      const t1 = performance.now();
      await call("stage.cancel");
      const t2 = performance.now();
      if (record) raw.push(t1 - t0, t2 - t1);
    }
    await call("leave");
    ws.onclose = null;
    ws.close(1000);
  };
  const run = async (token, n, record) => {
    const meeting = await StageKit.init({ authToken: token, baseURI: location.origin });
    await meeting.join();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await meeting.stage.requestAccess();
      const t1 = performance.now();
      await meeting.stage.cancelRequestAccess();
      const t2 = performance.now();
      if (record) {
        req.push(t1 - t0);
        cancel.push(t2 - t1);
      }
    }
    await meeting.leave();
  };
  await run(warmupToken, warmupPairs, false);
  let left = pairs;
  for (const token of tokens) {
    const n = Math.min(perViewer, left);
    if (n <= 0) break;
    await run(token, n, true);
    left -= n;
  }
  left = pairs;
  for (const token of rawTokens) {
    const n = Math.min(perViewer, left);
    if (n <= 0) break;
    await rawRun(token, n, true);
    left -= n;
  }
  return { req, cancel, raw };
}

// --- the runs ----------------------------------------------------------------

async function newPage(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(url + "/demo/blank.html");
  return { context, page, errors };
}

async function cold(browser, url, tokens) {
  const samples = [];
  for (const token of tokens) {
    const { context, page, errors } = await newPage(browser, url);
    try {
      samples.push(await withTimeout(page.evaluate(coldProbe, { token }), 30000, "cold init+join"));
      if (errors.length) throw errors[0];
    } finally {
      await context.close();
    }
  }
  return samples;
}

function reportCold(samples) {
  const d = (a, b) => samples.map((s) => s[b] - s[a]);
  const wasmDownload = samples.map((s) => s.wasm.end - s.wasm.start);
  const compileTail = samples.map((s) => s.compiled - s.wasm.end);
  const total = d("start", "join");
  const load = d("start", "goReady");
  const init = d("goReady", "init");
  const join = d("init", "join");
  const w = samples[0].wasm;
  console.log(`\n== 1. init() → join() resolved, cold: ${samples.length} fresh browser contexts ==`);
  console.log(`   from before import('/sdk/stagekit.js') to join() resolved, performance.now() in the page;`);
  console.log(`   wasm transferred ${w.transfer > 0 ? "over the network" : "FROM A CACHE (transferSize 0)"}: ${w.encoded.toLocaleString("en")} bytes encoded, ${w.decoded.toLocaleString("en")} decoded (${w.encoded < w.decoded ? (w.encoded < w.decoded * 0.25 ? "br" : "gzip") + "-compressed" : "uncompressed"})`);
  console.log(statsHeader("ms"));
  console.log(statsRow("total: import → join resolved", total));
  console.log(statsRow("a. load: import → Go main ready", load));
  console.log(statsRow("   import stagekit.js", d("start", "imported")));
  console.log(statsRow("   wasm_exec.js + fetch start", samples.map((s) => s.wasm.start - s.imported)));
  console.log(statsRow("   wasm download (request → last byte)", wasmDownload));
  console.log(statsRow("   compile+instantiate after last byte", compileTail));
  console.log(statsRow("   Go start: go.run → main's ready()", d("compiled", "goReady")));
  console.log(statsRow("b. init: ready → init() resolved (WS + hello)", init));
  console.log(statsRow("c. join: join() → resolved", join));
  const p50 = pct(total, 50);
  console.log(`   (the page is already loaded: navigation is not counted; "download" ends when V8's streaming compile has consumed the last byte)`);
  console.log(`   target p50 ≤ ${TARGET_JOIN_P50_MS} ms: ${p50 <= TARGET_JOIN_P50_MS ? `met (${ms(TARGET_JOIN_P50_MS - p50)} ms to spare)` : `MISSED by ${ms(p50 - TARGET_JOIN_P50_MS)} ms`}`);
  return { total, load, init, join };
}

async function warm(browser, url, tokens) {
  const { context, page, errors } = await newPage(browser, url);
  try {
    const out = await withTimeout(page.evaluate(warmProbe, { tokens }), 15000 + 2000 * tokens.length, "warm init+join");
    if (errors.length) throw errors[0];
    return out;
  } finally {
    await context.close();
  }
}

function reportWarm(samples) {
  console.log(`\n== 2. init() → join() resolved, warm: SDK already loaded in the page, ${samples.length} new participants ==`);
  console.log(statsHeader("ms"));
  console.log(statsRow("total: init() → join() resolved", samples.map((s) => s.total)));
  console.log(statsRow("init() (WebSocket + hello)", samples.map((s) => s.init)));
  console.log(statsRow("join()", samples.map((s) => s.join)));
}

async function roundTrip(browser, url, warmupToken, tokens, rawTokens) {
  const { context, page, errors } = await newPage(browser, url);
  try {
    const out = await withTimeout(
      page.evaluate(roundTripProbe, { warmupToken, tokens, rawTokens, pairs: N_PAIRS, perViewer: PAIRS_PER_VIEWER, warmupPairs: WARMUP_PAIRS }),
      60000,
      "round trips",
    );
    if (errors.length) throw errors[0];
    return out;
  } finally {
    await context.close();
  }
}

/** Runs BenchmarkRequestCancelNative against the server; returns its metrics. */
function native(url, calls) {
  return new Promise((resolve, reject) => {
    const argv = ["test", "-run=^$", "-bench=^BenchmarkRequestCancelNative$", `-benchtime=${calls}x`, "-count=1", "-timeout=120s", "./bench/roundtrip"];
    const proc = spawn("go", argv, {
      cwd: root,
      env: { ...process.env, STAGEKIT_BENCH_URL: url, STAGEKIT_BENCH_API_KEY: API_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (c) => (out += c));
    proc.stderr.on("data", (c) => (out += c));
    const timer = setTimeout(() => proc.kill("SIGTERM"), 180000);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("BenchmarkRequestCancelNative"));
      if (code !== 0 || !line) return reject(new Error(`go ${argv.join(" ")} failed (${code}):\n${out}`));
      const f = line.trim().split(/\s+/);
      const m = { iterations: Number(f[1]) };
      for (let i = 2; i + 1 < f.length; i += 2) m[f[i + 1]] = Number(f[i]);
      resolve(m);
    });
  });
}

function reportRoundTrip(rt, nat) {
  const all = [...rt.req, ...rt.cancel];
  const viewers = Math.ceil(N_PAIRS / PAIRS_PER_VIEWER);
  console.log(`\n== 3. stage round trip: requestAccess / cancelRequestAccess, one call each, resolved after the server committed it ==`);
  console.log(`   browser: ${rt.req.length} pairs in one page (SDK loaded), ${PAIRS_PER_VIEWER} pairs per viewer socket (${viewers} viewers; the server's`);
  console.log(`   per-socket limit is 50 msg/s, burst 100), after ${WARMUP_PAIRS} untimed warm-up pairs; performance.now() around each await`);
  console.log(`   (the page's clock ticks in 0.1 ms steps: Chromium coarsens performance.now() without cross-origin isolation)`);
  console.log(statsHeader("ms per call", COLS_LONG));
  console.log(statsRow("SDK  requestAccess()", rt.req, COLS_LONG));
  console.log(statsRow("SDK  cancelRequestAccess()", rt.cancel, COLS_LONG));
  console.log(statsRow("SDK  both", all, COLS_LONG));
  console.log(statsRow("bare browser WebSocket, same messages, no SDK", rt.raw, COLS_LONG));
  if (nat) {
    const nv = (k) => pad(Number.isFinite(nat[k]) ? (nat[k] / 1e6).toFixed(3) : "-", 9);
    console.log(`  ${padEnd(`native Go client.Meeting (${nat.iterations} calls)`, 46)}${nv("p50-ns")}${nv("p90-ns")}${nv("p99-ns")}${nv("max-ns")}   mean ${nv("ns/op").trim()}`);
    const sdk = pct(all, 50);
    const bare = pct(rt.raw, 50);
    const go = nat["p50-ns"] / 1e6;
    console.log(`   p50: SDK ${ms(sdk)} ms = ×${(sdk / go).toFixed(0)} native; of the ${ms(sdk - go)} ms more, the browser's WebSocket path (bare − native) is ${ms(bare - go)} ms`);
    console.log(`   and the SDK in wasm (SDK − bare: JS↔Go calls, Go's scheduler on the event loop, JSON in wasm) ${ms(sdk - bare)} ms`);
    console.log(`   (native: go test -bench=RequestCancelNative -benchtime=${nat.iterations}x ./bench/roundtrip against the same server process, ${PAIRS_PER_VIEWER * 2} calls per viewer)`);
  }
}

/**
 * Prints, per phase of the cold start (between the stagekit:* marks), the
 * wall time, the time the page's main thread spent compiling wasm functions
 * lazily on their first call (wasm.CompileLazy: V8 compiles a wasm function
 * with Liftoff only when it first runs), and the time other threads spent
 * compiling (wasm.ExecuteCompilationUnits: mostly TurboFan tier-up of hot
 * functions), which competes with the main thread for the CPUs.
 */
function summarizeTrace(trace) {
  const events = Array.isArray(trace) ? trace : trace.traceEvents;
  const marks = {};
  let mainTid;
  for (const e of events) {
    if (e.name?.startsWith("stagekit:") && e.ph !== "X" && !(e.name in marks)) {
      marks[e.name] = e.ts;
      mainTid ??= e.tid;
    }
  }
  const order = ["stagekit:start", "stagekit:imported", "stagekit:compiled", "stagekit:goReady", "stagekit:init", "stagekit:join"];
  if (!order.every((m) => m in marks)) {
    console.log("  (the trace lacks the stagekit:* marks; no summary)");
    return;
  }
  const phases = order.slice(1).map((m, i) => ({ from: order[i], to: m, a: marks[order[i]], b: marks[m] }));
  const overlap = (e, p) => Math.max(0, Math.min(e.ts + e.dur, p.b) - Math.max(e.ts, p.a));
  let totalLazy = 0;
  let totalLazyN = 0;
  console.log(`  ${padEnd("phase (between performance marks)", 36)}${pad("wall ms", 9)}${pad("main thread: lazy compile ms (functions)", 42)}${pad("other threads: compile ms", 27)}`);
  for (const p of phases) {
    let lazy = 0;
    let lazyN = 0;
    let back = 0;
    for (const e of events) {
      if (e.ph !== "X" || !e.dur) continue;
      const o = overlap(e, p);
      if (o <= 0) continue;
      if (e.name === "wasm.CompileLazy" && e.tid === mainTid) {
        lazy += o;
        lazyN++;
      } else if (e.tid !== mainTid && e.name === "wasm.ExecuteCompilationUnits") {
        back += o; // TopTierCompilation (TurboFan) runs inside these
      }
    }
    totalLazy += lazy;
    totalLazyN += lazyN;
    const label = `${p.from.slice(9)} → ${p.to.slice(9)}`;
    console.log(`  ${padEnd(label, 36)}${pad(ms((p.b - p.a) / 1000), 9)}${pad(`${ms(lazy / 1000)} (${lazyN})`, 42)}${pad(ms(back / 1000), 27)}`);
  }
  const wall = (marks["stagekit:join"] - marks["stagekit:start"]) / 1000;
  console.log(`  ${padEnd("total", 36)}${pad(ms(wall), 9)}${pad(`${ms(totalLazy / 1000)} (${totalLazyN})`, 42)}`);
}

async function trace(browser, url, token, file) {
  mkdirSync(dirname(file), { recursive: true });
  const { context, page } = await newPage(browser, url);
  try {
    await browser.startTracing(page, {
      path: file,
      categories: ["devtools.timeline", "blink.user_timing", "v8", "v8.wasm", "disabled-by-default-v8.compile", "disabled-by-default-devtools.timeline"],
    });
    await withTimeout(page.evaluate(coldProbe, { token }), 30000, "traced init+join");
    await browser.stopTracing();
    console.log(`\n== trace of one more cold sample: ${file} (chrome://tracing or Perfetto; marks stagekit:*) ==`);
    summarizeTrace(JSON.parse(readFileSync(file, "utf8")));
  } finally {
    await context.close();
  }
}

const sha = (b) => createHash("sha256").update(b).digest("hex");

/**
 * Copies the SDK (web/sdk) and the blank page into a temporary web dir that
 * the server serves, so a rebuild of web/sdk during the run cannot change or
 * truncate what the pages load; checks that the .br and .gz are of the same
 * bytes as the .wasm (retrying while a build is rewriting them).
 */
async function snapshotWeb() {
  // Every module the loader imports (it grows: read the directory), and the wasm.
  const sdkFiles = [...new Set([...readdirSync(join(root, "web/sdk")).filter((f) => f.endsWith(".js")),
    "stagekit.js", "wasm_exec.js", "stagekit.wasm", "stagekit.wasm.br", "stagekit.wasm.gz"])];
  for (const f of ["bin/stageserver", ...sdkFiles.map((f) => `web/sdk/${f}`), "web/demo/blank.html"]) {
    if (!existsSync(join(root, f))) die(`${f} is missing: run make build`);
  }
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "stagekit-bench-web-"));
    mkdirSync(join(dir, "sdk"));
    mkdirSync(join(dir, "demo"));
    for (const f of sdkFiles) copyFileSync(join(root, "web/sdk", f), join(dir, "sdk", f));
    copyFileSync(join(root, "web/demo/blank.html"), join(dir, "demo/blank.html"));
    const raw = readFileSync(join(dir, "sdk/stagekit.wasm"));
    try {
      const want = sha(raw);
      if (sha(brotliDecompressSync(readFileSync(join(dir, "sdk/stagekit.wasm.br")))) !== want) throw new Error(".br differs");
      if (sha(gunzipSync(readFileSync(join(dir, "sdk/stagekit.wasm.gz")))) !== want) throw new Error(".gz differs");
      return { dir, size: raw.length, sha: want };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= 5) die(`web/sdk's stagekit.wasm and its .br/.gz do not match (${err.message}): run make build`);
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

async function main() {
  const started = performance.now();
  const web = await snapshotWeb();
  const wasm = web.size;
  // lib's startServer passes its own -api-key and -web first: the last flag wins.
  const server = await startServer(["-api-key", API_KEY, "-web", web.dir]).catch((err) => {
    rmSync(web.dir, { recursive: true, force: true });
    throw err;
  });
  let browser;
  const killer = setTimeout(() => {
    console.error("bench-browser: overall timeout (5 min)");
    process.exit(2);
  }, 300000);
  try {
    const [joins, trips] = await Promise.all([
      rest(server.url, "POST", "/v1/meetings", { title: "bench-browser joins" }),
      rest(server.url, "POST", "/v1/meetings", { title: "bench-browser round trips" }),
    ]);
    const coldTokens = await participants(server.url, joins.id, "cold", N_COLD + (TRACE ? 1 : 0));
    const warmTokens = await participants(server.url, joins.id, "warm", N_WARM + 1);
    const viewers = Math.ceil(N_PAIRS / PAIRS_PER_VIEWER);
    const tripTokens = await participants(server.url, trips.id, "trip", 1 + viewers);
    const rawTokens = await participants(server.url, trips.id, "raw", viewers);
    browser = await launch();
    const load = loadavg().map((l) => l.toFixed(1)).join(" ");
    console.log(`bench-browser: Chromium ${browser.version()} headless, server ${server.url} (loopback)`);
    console.log(`  SDK: a copy of web/sdk, stagekit.wasm ${wasm.toLocaleString("en")} bytes raw, sha256 ${web.sha.slice(0, 12)}`);
    if (JS_FLAGS) console.log(`  EXPERIMENT: Chromium started with --js-flags=${JS_FLAGS}`);
    console.log(`  machine: ${cpus().length} CPUs, load average ${load} at start (other work on the machine inflates every figure)`);

    const coldSamples = await cold(browser, server.url, coldTokens.slice(0, N_COLD));
    reportCold(coldSamples);
    reportWarm(await warm(browser, server.url, warmTokens));
    const rt = await roundTrip(browser, server.url, tripTokens[0], tripTokens.slice(1), rawTokens);
    await browser.close();
    browser = undefined;
    const nat = NATIVE ? await native(server.url, 2 * N_PAIRS) : null;
    reportRoundTrip(rt, nat);
    if (TRACE) {
      browser = await launch();
      await trace(browser, server.url, coldTokens[N_COLD], TRACE);
    }
    console.log(`\n(bench-browser took ${((performance.now() - started) / 1000).toFixed(1)} s; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")})`);
  } finally {
    clearTimeout(killer);
    if (browser) await browser.close().catch(() => {});
    await server.stop();
    rmSync(web.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error("bench-browser:", err?.stack || err);
  process.exit(1);
});
