// Creates a meeting with one participant per preset name given and prints
// {"meetingId", "people": {Name: {id, token}}} for tests that cannot reach the
// admin REST API themselves (browser code: the API sends no CORS headers).
// Usage: node scripts/seed-meeting.mjs URL API_KEY Name=preset ...
const [url, key, ...people] = process.argv.slice(2);
async function rest(path, body) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}
const meeting = await rest("/v1/meetings", { title: "seeded" });
const out = { meetingId: meeting.id, people: {} };
for (const spec of people) {
  const [name, preset] = spec.split("=");
  const p = await rest(`/v1/meetings/${meeting.id}/participants`, { name, preset_name: preset });
  out.people[name] = { id: p.id, token: p.token };
}
process.stdout.write(JSON.stringify(out));
