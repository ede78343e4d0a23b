// Shared by the browser media benchmarks: a joined meeting page, the runs,
// the figures' lines.
export { openJoined } from "../../e2e/lib.mjs";
import { startServer, launch, secureOrigin } from "../../e2e/lib.mjs";
import { unavailable, makeLab } from "../../e2e/netlab.mjs";

// labBench starts what the link-lab benchmarks share: a lab
// (scripts/netlab.sh; needs root), the real server on the lab's host
// address, a Chromium outside the lab and one inside. null, said why,
// where no lab can be made. close ends them all.
export async function labBench(name) {
  const skip = unavailable();
  if (skip) {
    console.log(`${name} benchmark skipped: ${skip}`);
    return null;
  }
  const lab = makeLab();
  const server = await startServer(["-addr", `${lab.hostAddr}:0`, "-grace", "20s"]);
  const outside = await launch([secureOrigin(server.url)]);
  const inside = await lab.launch([secureOrigin(server.url)]);
  const close = async () => {
    await inside.close();
    await outside.close();
    await server.stop();
    lab.close();
  };
  return { lab, server, outside, inside, close };
}

// measure runs one() once cold and then runs times, fails on page errors,
// and returns the cold sample and the others.
export async function measure(one, runs, pages) {
  const cold = await one();
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await one());
  const errors = pages.flatMap((p) => p.errors);
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  return { cold, samples };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// line is one figure: its name, p50, p90 and max of xs (ms).
export const line = (name, xs, width = 44) =>
  `${name.padEnd(width)} p50 ${pct(xs, 50).toFixed(0).padStart(5)} ms  p90 ${pct(xs, 90).toFixed(0).padStart(5)} ms  max ${Math.max(...xs).toFixed(0).padStart(5)} ms`;
