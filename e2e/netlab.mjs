// The link lab for browser tests: scripts/netlab.sh (see there) from
// Node, and Chromium launched inside a lab's network namespace.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { before, after } from "node:test";
import { chromium } from "playwright-core";
import { root, chromiumArgs, startServer, launch } from "./lib.mjs";

const script = join(root, "scripts/netlab.sh");

function run(...args) {
  return execFileSync(script, args.map(String), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** Why labs cannot be made here, or "" if they can (root, ip, tc, nft). */
export function unavailable() {
  if (process.getuid && process.getuid() !== 0) return "netlab: needs root for network namespaces (CI runs as root)";
  try {
    run("check");
    return "";
  } catch (err) {
    // Root without the tools is a broken setup, not a reason to skip.
    throw new Error(String(err.stderr || err));
  }
}

/** Makes a lab: { n, hostAddr, addr(), shape(dir, rate[, burst, limit]), unshape(dir), drops(dir), loss(dir, pct), exec(cmd, …args), blackhole(on), dtlshole(on), dtlsdrops(), readdress(), launch(), close() }. */
export function makeLab() {
  const n = Number(run("up"));
  return {
    n,
    ns: `sk${n}`,
    hostAddr: `10.231.${n}.1`,
    addr: () => run("addr", n),
    shape: (dir, rate, burst, limit) => run("shape", n, dir, rate, ...(burst ? [burst, limit] : [])),
    unshape: (dir = "both") => run("unshape", n, dir),
    /** Packets the limit on dir ("down" or "up") dropped so far (its queue was full). */
    drops: (dir) => Number(run("drops", n, dir)),
    loss: (dir, pct) => run("loss", n, dir, pct),
    /** Runs cmd (args) inside the lab; returns its output. */
    exec: (cmd, ...args) => run("exec", n, cmd, ...args),
    blackhole: (on) => run("blackhole", n, on ? "on" : "off"),
    dtlshole: (on) => run("dtlshole", n, on ? "on" : "off"),
    dtlsdrops: () => Number(run("dtlsdrops", n)),
    readdress: () => run("readdress", n),
    /** Debian's Chromium, headless, inside the lab (extraArgs after the usual ones). */
    launch: (extraArgs = []) => chromium.launch({
      executablePath: join(root, "scripts/netlab-exec"),
      env: { ...process.env, NETLAB_N: String(n), NETLAB_EXEC: "/usr/bin/chromium" },
      headless: true,
      args: [...chromiumArgs, ...extraArgs],
    }),
    close: () => run("down", n),
  };
}

/**
 * For a test file whose presenter is outside a lab and whose viewer is
 * inside: before its tests, a lab, the server on every address (serverArgs
 * after the usual ones), Chromium outside (browser) and inside the lab
 * (labBrowser); a page outside opens hostURL (127.0.0.1: a secure context,
 * for getUserMedia), one inside labURL (the lab's host address). After
 * them, all of it closed. Returns the object the hooks fill: { skip } at
 * once, then { lab, server, browser, labBrowser, hostURL, labURL }.
 */
export function presenterAndLab(serverArgs = []) {
  const env = { skip: unavailable() };
  before(async () => {
    if (env.skip) return;
    env.lab = makeLab();
    env.server = await startServer(["-addr", "0.0.0.0:0", ...serverArgs]);
    const port = new URL(env.server.url).port;
    env.hostURL = `http://127.0.0.1:${port}`;
    env.labURL = `http://${env.lab.hostAddr}:${port}`;
    env.browser = await launch();
    env.labBrowser = await env.lab.launch();
  });
  after(async () => {
    await env.labBrowser?.close();
    await env.browser?.close();
    await env.server?.stop();
    env.lab?.close();
  });
  return env;
}
