// Types: RealtimeKit-style page code (e2e/types/page.ts, kit.ts, app.tsx),
// written against @cloudflare/realtimekit 2.0.2's API as its types accept it
// (tracks typed MediaStreamTrack, screen share, self.config, devices, …),
// compiles under a strict `tsc --noEmit` both against RealtimeKit's own
// published types and, through a paths alias (what a bundler alias does for
// the code), against StageKit's (web/realtimekit.d.ts,
// web/realtimekit-react.d.ts). A wrong use
// (getAccessRequests() as a promise) fails against both. StageKit's .d.ts
// files also compile on their own, without skipLibCheck.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root } from "./lib.mjs";

const tsc = join(root, "node_modules/.bin/tsc");
const dir = join(root, "e2e/types");

function compile(args) {
  const r = spawnSync(tsc, args, { cwd: root, encoding: "utf8" });
  return { code: r.status, out: (r.stdout || "") + (r.stderr || "") };
}

for (const against of ["realtimekit", "stagekit"]) {
  test(`RealtimeKit-style page code compiles strictly against ${against}'s types`, () => {
    const r = compile(["-p", join(dir, `tsconfig.${against}.json`), "--listFiles"]);
    assert.equal(r.code, 0, r.out);
    // The alias is in force: the code was checked against the intended declarations.
    const want = against === "stagekit" ? "/web/realtimekit.d.ts" : "/@cloudflare/realtimekit/dist/index.d.ts";
    assert.ok(r.out.split("\n").some((f) => f.endsWith(want)), `no ${want} in:\n${r.out}`);
  });

  test(`getAccessRequests() used as a promise is a type error against ${against}'s types`, () => {
    const r = compile(["-p", join(dir, `tsconfig.wrong-${against}.json`)]);
    assert.notEqual(r.code, 0, "wrong.ts compiled");
    assert.match(r.out, /wrong\.ts.*Property 'then' does not exist/);
  });
}

test("StageKit's declarations compile on their own (strict, no skipLibCheck)", () => {
  const r = compile(["--strict", "--noEmit", "--skipLibCheck", "false", "--lib", "ES2022,DOM,DOM.Iterable", "--module", "esnext",
    "--moduleResolution", "bundler", "--jsx", "react-jsx", "--types", "react",
    ...["stagekit", "react", "realtimekit", "realtimekit-react"].map((f) => join(root, "web", f + ".d.ts"))]);
  assert.equal(r.code, 0, r.out);
});
