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
// Imported by name (not for its side effect alone) so that bundlers keep it.
import bridge from "./jsbridge-shim.js";
import { shapeMeeting } from "./shape.js";

const base = new URL("./", import.meta.url);
let runtime; // Promise of the Go side's API, shared by every init()

/**
 * Error thrown by every failing SDK call, RealtimeKit's: `new ClientError(message, code)`, name 'ClientError',
 * string code, message "[ERR<code>]: …". The Go side makes its errors with this very class (jsbridge's JS
 * half), so `instanceof ClientError` holds for them.
 */
export const ClientError = bridge.ClientError;

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
    // The wasm's download starts at once, beside wasm_exec.js's.
    report(onProgress, { phase: "download", loaded: 0, total: 0 });
    const fetched = fetch(new URL("stagekit.wasm", base));
    if (typeof globalThis.Go !== "function") {
      await import(new URL("wasm_exec.js", base).href);
    }
    const go = new globalThis.Go();
    const ready = new Promise((resolve) => {
      globalThis.__stagekitReady = resolve;
    });
    const response = await fetched;
    if (!response.ok) {
      throw new ClientError(`cannot load the SDK's wasm: HTTP ${response.status}`, 5001);
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

// earlySocket opens the WebSocket of baseURI (its /v1/ws, as the client
// builds it) and sends the hello with authToken as soon as it opens, so that
// the server's answer is waiting when the Go side starts. It keeps what
// arrives until the Go side takes the socket over (take()). The Go side
// checks that this hello is the one it would send, or closes the socket and
// dials itself. Returns undefined where a socket cannot be opened here.
function earlySocket(baseURI, authToken) {
  let socket;
  try {
    const u = new URL(baseURI);
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    else if (u.protocol !== "ws:" && u.protocol !== "wss:") return undefined;
    u.pathname = u.pathname.replace(/\/$/, "") + "/v1/ws";
    u.search = "";
    u.hash = "";
    if (typeof WebSocket !== "function") return undefined;
    socket = new WebSocket(u.href);
  } catch {
    return undefined;
  }
  // The client's first message, as protocol.EncodeClient writes it (client.helloFrame).
  const hello = typeof authToken === "string" && authToken !== "" ? JSON.stringify({ v: 1, id: 1, type: "hello", token: authToken }) : undefined;
  const kept = [];
  const keep = (e) => kept.push(e.data);
  socket.addEventListener("message", keep);
  if (hello) socket.addEventListener("open", () => socket.send(hello), { once: true });
  return {
    socket,
    hello,
    take() {
      socket.removeEventListener("message", keep);
      return kept.splice(0);
    },
    close() {
      socket.close();
    },
  };
}

// reportError hands err to the page's onError (RealtimeKit's init option);
// a throwing handler is logged, never fatal.
function reportError(onError, err) {
  if (typeof onError !== "function") return;
  try {
    onError(err);
  } catch (e) {
    console.error("stagekit: onError threw", e);
  }
}

const StageKit = {
  /**
   * Loads the SDK (once per page) and authenticates the token. RealtimeKit's options: `defaults: {audio, video}`
   * turns the microphone/camera on before init resolves (a preview until the user is on stage; a device that cannot
   * be used is reported to onError and does not fail init); `onError` receives the ClientError of a failed init,
   * of a media default and of a session that ended (the meeting's 'disconnected').
   * @param {{ authToken: string, baseURI?: string, defaults?: { audio?: boolean, video?: boolean },
   *   onError?: (error: Error) => void, onProgress?: (p: object) => void }} options
   */
  async init(options = {}) {
    const { authToken, baseURI = globalThis.location?.origin, onProgress, onError, defaults = {} } = options;
    let meeting;
    // The meeting's WebSocket opens and says hello while the wasm loads (the
    // handshake and the server's answer overlap the download); the Go side
    // takes it over, or closes it and dials itself if it is not to the
    // meeting's URL or the hello is not the one it would send.
    const early = earlySocket(baseURI, authToken);
    try {
      const api = await loadRuntime(onProgress);
      meeting = shapeMeeting(await api.init({ authToken, baseURI }, early));
    } catch (err) {
      early?.close();
      reportError(onError, err);
      throw err;
    }
    meeting.on("disconnected", (err) => reportError(onError, err));
    for (const [kind, enable] of [["audio", "enableAudio"], ["video", "enableVideo"]]) {
      if (defaults[kind] !== true) continue;
      try {
        await meeting.self[enable]();
      } catch (err) {
        reportError(onError, err);
      }
    }
    return meeting;
  },
};

export default StageKit;
