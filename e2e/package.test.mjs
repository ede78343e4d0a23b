// The npm package: `npm pack --json` (prepack build included) prints clean
// JSON and yields a tarball with the loader, the types, the wasm (with
// precompressed copies), Go's wasm_exec.js and the RealtimeKit entries;
// `npm publish --dry-run` is clean; the tarball installs (offline) into a
// fresh app that esbuild bundles by package name, with @cloudflare/realtimekit
// aliased as the README shows, and the app runs; a page imports the SDK from
// the unpacked package; a React page built against the package shows the
// stage status changing as a host grants.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { startServer, createMeeting, launch, root } from "./lib.mjs";

let server, browser, dir, pkg, web;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "stagekit-pack-"));
  // With its prepack script (make build-wasm, whose output goes to stderr):
  // stdout must be the JSON alone.
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  pkg = JSON.parse(out)[0];
  // The unpacked package is served by a real server (as /demo/pkg/), with the
  // test pages beside it: pages must come from a real loopback origin for
  // Chromium to let them open the stage server's WebSocket.
  web = join(dir, "web");
  mkdirSync(join(web, "demo", "pkg"), { recursive: true });
  execFileSync("tar", ["-xzf", join(dir, pkg.filename), "-C", join(web, "demo", "pkg"), "--strip-components=1"]);
  writeFileSync(join(web, "demo", "page.html"), "<!doctype html><title>package</title><link rel=icon href=data:,>");
  server = await startServer(["-web", web]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(path) {
  const page = await browser.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err));
  await page.goto(server.url + path);
  return page;
}

test("npm pack contains the loader, types, wasm and wasm_exec.js", () => {
  const files = pkg.files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "README.md",
    "package.json",
    "web/sdk/jsbridge-shim.js",
    "web/sdk/react.d.ts",
    "web/sdk/react.js",
    "web/sdk/realtimekit-react.d.ts",
    "web/sdk/realtimekit-react.js",
    "web/sdk/realtimekit.d.ts",
    "web/sdk/realtimekit.js",
    "web/sdk/shape.js",
    "web/sdk/stagekit.d.ts",
    "web/sdk/stagekit.js",
    "web/sdk/stagekit.wasm",
    "web/sdk/stagekit.wasm.br",
    "web/sdk/stagekit.wasm.gz",
    "web/sdk/wasm_exec.js",
  ]);
  const manifest = JSON.parse(readFileSync(join(web, "demo", "pkg", "package.json"), "utf8"));
  assert.equal(manifest.exports["."].import, "./web/sdk/stagekit.js");
  assert.equal(manifest.exports["."].types, "./web/sdk/stagekit.d.ts");
  assert.equal(manifest.exports["./react"].import, "./web/sdk/react.js");
  assert.equal(manifest.exports["./realtimekit"].import, "./web/sdk/realtimekit.js");
  assert.equal(manifest.exports["./realtimekit-react"].types, "./web/sdk/realtimekit-react.d.ts");
  assert.ok(manifest.peerDependencies.react);
});

test("a page imports the SDK from the unpacked package", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host" });
  const page = await open("/demo/page.html");
  const status = await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/demo/pkg/web/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    return meeting.stage.status;
  }, people.Host.token);
  assert.equal(status, "ACCEPTED_TO_JOIN_STAGE", server.log());
  assert.deepEqual(page.errors, []);
});

test("a React page re-renders the stage status as a host grants", async () => {
  const bundle = await esbuild.build({
    entryPoints: [join(root, "e2e/fixtures/react-app.jsx")],
    bundle: true, format: "esm", write: false, jsx: "transform",
    // The app imports the package by name, as a user's would.
    alias: { stagekit: join(web, "demo/pkg/web/sdk/stagekit.js"), "stagekit/react": join(web, "demo/pkg/web/sdk/react.js") },
    nodePaths: [join(root, "node_modules")],
    external: ["./stagekit.wasm", "./wasm_exec.js"],
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  // The bundle lives beside the package's files so that stagekit.js finds its wasm.
  writeFileSync(join(web, "demo/pkg/web/sdk/app.js"), bundle.outputFiles[0].text);
  writeFileSync(join(web, "demo/react.html"),
    `<!doctype html><title>react</title><link rel=icon href=data:,><div id="root"></div><script type="module" src="/demo/pkg/web/sdk/app.js"></script>`);
  const page = await open(`/demo/react.html?token=${people.Viewer.token}`);
  await page.waitForSelector("#status");
  assert.equal(await page.locator("#status").innerText(), "OFF_STAGE");

  await page.evaluate(() => meeting.stage.requestAccess());
  await page.waitForFunction(() => document.querySelector("#status").textContent === "REQUESTED_TO_JOIN_STAGE");

  const host = await open("/demo/page.html");
  await host.evaluate(async ([authToken, viewerId]) => {
    const { default: StageKit } = await import("/demo/pkg/web/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    await meeting.stage.grantAccess([viewerId]);
  }, [people.Host.token, people.Viewer.id]);
  await page.waitForFunction(() => document.querySelector("#status").textContent === "ACCEPTED_TO_JOIN_STAGE");
  const renders = await page.evaluate(() => window.renders);
  assert.ok(renders >= 3 && renders < 20, `renders: ${renders}`);
  assert.deepEqual(page.errors, []);
});

test("npm publish --dry-run is clean", () => {
  const r = spawnSync("npm", ["publish", "--dry-run", join(dir, pkg.filename)], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  // The one warning a machine without npm credentials always gets.
  const warnings = r.stderr.split("\n").filter((l) => /npm (warn|error|ERR)/i.test(l) && !/requires you to be logged in/.test(l));
  assert.deepEqual(warnings, []);
});

test("the tarball installs into a fresh app that esbuild bundles and runs", async () => {
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }));
  const r = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", join(dir, pkg.filename)], { cwd: app, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  // RealtimeKit page code; the alias is the README's (esbuild's --alias).
  writeFileSync(join(app, "main.js"), `
    import RealtimeKitClient, { ClientError } from "@cloudflare/realtimekit";
    import StageKit from "stagekit";
    const meeting = await RealtimeKitClient.init({ authToken: new URLSearchParams(location.search).get("token"), baseURI: location.origin });
    await meeting.join();
    let refused = null;
    try { meeting.stage.getAccessRequests(); } catch (e) { refused = e instanceof ClientError && e.code; }
    window.result = { status: meeting.stage.status, sameInit: typeof StageKit.init, refused };
  `);
  const out = join(web, "demo", "app");
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [join(app, "main.js")], absWorkingDir: app, bundle: true, format: "esm", outfile: join(out, "main.js"),
    alias: { "@cloudflare/realtimekit": "stagekit/realtimekit" }, external: ["./stagekit.wasm", "./wasm_exec.js"], logLevel: "silent",
  });
  // What the README tells esbuild users: copy the wasm and wasm_exec.js beside the bundle.
  for (const f of ["stagekit.wasm", "wasm_exec.js"]) copyFileSync(join(app, "node_modules/stagekit/web/sdk", f), join(out, f));
  writeFileSync(join(out, "index.html"), '<!doctype html><title>app</title><link rel=icon href=data:,><script type="module" src="main.js"></script>');
  const { people } = await createMeeting(server.url, { Viewer: "webinar_viewer" });
  const page = await open(`/demo/app/index.html?token=${people.Viewer.token}`);
  await page.waitForFunction(() => window.result, null, { timeout: 20000 });
  assert.deepEqual(await page.evaluate(() => window.result), { status: "OFF_STAGE", sameInit: "function", refused: "2001" });
  assert.deepEqual(page.errors, []);
});
