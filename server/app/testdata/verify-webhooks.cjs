// Verifies webhook deliveries with npm's standardwebhooks (the Standard
// Webhooks reference library for JavaScript), independently of the Go
// signer. stdin: {"secret": "whsec_…", "messages": [{"headers": {…}, "body": "…"}]}.
// Prints the number verified; exits 1 at the first message that fails.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { secret, messages } = JSON.parse(input);
  const wh = new Webhook(secret);
  let ok = 0;
  for (const m of messages) {
    try {
      const event = wh.verify(m.body, m.headers);
      if (event.id !== m.headers["webhook-id"]) throw new Error(`id ${event.id} != header ${m.headers["webhook-id"]}`);
      ok++;
    } catch (e) {
      console.error(`message ${m.headers["webhook-id"]}: ${e.message}`);
      process.exit(1);
    }
  }
  // A tampered body must fail.
  if (messages.length > 0) {
    try {
      wh.verify(messages[0].body.replace("meeting", "meetinG"), messages[0].headers);
      console.error("a tampered body verified");
      process.exit(1);
    } catch {}
  }
  console.log(ok);
});
