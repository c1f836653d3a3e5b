// The published API shows no member tagged @internal: what is not for users
// is not public (a private constructor, a module-private function), rather
// than public and hidden behind a tag.

import assert from "node:assert/strict";

Deno.test("deno doc of the entry points shows no @internal member", async () => {
  const root = new URL("../", import.meta.url);
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "mod.ts", "src/windows/mod.ts", "src/linux/mod.ts"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).split("\n");
  const tagged = lines.flatMap((l, i) => /@internal/.test(l) ? [lines[i - 2]?.trim()] : []);
  assert.deepEqual(tagged, [], "members tagged @internal");
});
