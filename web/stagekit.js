// StageKit browser SDK entry: loads Go's wasm_exec.js and the SDK's wasm once
// per page, then creates meetings. The stage logic runs in Go (WebAssembly);
// this file only loads it.
//
//   import StageKit from "/sdk/stagekit.js";
//   const meeting = await StageKit.init({ authToken, baseURI: location.origin });
//   await meeting.join();

// jsbridge's JS half (events, errors thrown to callers), as a module: no
// eval, so the SDK runs under a Content-Security-Policy without
// 'unsafe-eval' with nothing more to load.
import "./jsbridge-shim.js";

const base = new URL("./", import.meta.url);
let runtime; // Promise of the Go side's API, shared by every init()

/** Error thrown by every failing SDK call: name 'ClientError', string code, message "[ERR<code>] …". */
export class ClientError extends Error {
  constructor(code, message) {
    super(`[ERR${code}] ${message}`);
    this.name = "ClientError";
    this.code = String(code);
  }
}

function report(onProgress, progress) {
  if (typeof onProgress !== "function") return;
  try {
    onProgress(progress);
  } catch (err) {
    console.error("stagekit: onProgress listener threw", err);
  }
}

// Counts the wasm download as it streams in.
function withProgress(response, onProgress) {
  const encoded = response.headers.get("Content-Encoding");
  const size = Number(response.headers.get(encoded ? "X-Decoded-Length" : "Content-Length")) || 0;
  if (!response.body || typeof onProgress !== "function") return response;
  let loaded = 0;
  const counted = response.body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        loaded += chunk.byteLength;
        report(onProgress, { phase: "download", loaded, total: size });
        controller.enqueue(chunk);
      },
    }),
  );
  return new Response(counted, { headers: { "Content-Type": "application/wasm" } });
}

function loadRuntime(onProgress) {
  if (runtime) return runtime;
  runtime = (async () => {
    if (typeof globalThis.Go !== "function") {
      await import(new URL("wasm_exec.js", base).href);
    }
    const go = new globalThis.Go();
    const ready = new Promise((resolve) => {
      globalThis.__stagekitReady = resolve;
    });
    report(onProgress, { phase: "download", loaded: 0, total: 0 });
    const response = await fetch(new URL("stagekit.wasm", base));
    if (!response.ok) {
      throw new ClientError(5001, `cannot load the SDK's wasm: HTTP ${response.status}`);
    }
    const { instance } = await WebAssembly.instantiateStreaming(withProgress(response, onProgress), go.importObject);
    report(onProgress, { phase: "start" });
    go.run(instance).then(() => {
      runtime = undefined; // the Go program ended: load anew next time
    });
    const api = await ready;
    delete globalThis.__stagekitReady;
    report(onProgress, { phase: "ready" });
    return api;
  })();
  runtime.catch(() => {
    runtime = undefined;
  });
  return runtime;
}

const StageKit = {
  /**
   * Loads the SDK (once per page) and authenticates the token.
   * @param {{ authToken: string, baseURI?: string, onProgress?: (p: object) => void }} options
   */
  async init(options = {}) {
    const { authToken, baseURI = globalThis.location?.origin, onProgress } = options;
    const api = await loadRuntime(onProgress);
    return api.init({ authToken, baseURI });
  },
};

export default StageKit;
