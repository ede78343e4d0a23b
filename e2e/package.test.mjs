// The npm package: `npm pack` yields a tarball with the loader, the types,
// the wasm (with precompressed copies) and Go's wasm_exec.js; a page imports
// the SDK from the unpacked package; a React page built against the package
// shows the stage status changing as a host grants.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { startServer, createMeeting, launch, root } from "./lib.mjs";

let server, browser, dir, pkg, web;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "stagekit-pack-"));
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" });
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
