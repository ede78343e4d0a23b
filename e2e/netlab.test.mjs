// The link lab itself (scripts/netlab.sh, e2e/netlab.mjs): Chromium inside a
// lab reaches the server on the lab's host address; a black hole cuts it
// off, a new address does not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib.mjs";
import { unavailable, makeLab } from "./netlab.mjs";

const skip = unavailable();
let lab, server, browser;
before(async () => {
  if (skip) return;
  lab = makeLab();
  server = await startServer(["-addr", `${lab.hostAddr}:0`]);
  browser = await lab.launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  lab?.close();
});

test("Chromium in a lab: reachable, black-holed, readdressed", { skip: skip || false, timeout: 60000 }, async () => {
  const page = await browser.newPage();
  await page.goto(server.url + "/demo/blank.html");
  const get = () => page.evaluate(() => fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(1500) })
    .then((r) => r.status, (e) => e.name));
  assert.equal(await get(), 200);
  lab.blackhole(true);
  assert.equal(await get(), "TimeoutError");
  lab.blackhole(false);
  assert.equal(await get(), 200);
  const addr = lab.readdress();
  assert.match(addr, /^10\.231\.\d+\.\d+$/);
  assert.equal(await get(), 200);
});
