// README's install section (issue 10, point 1): the git-checkout import map it
// documents names exactly the package's entry points, and every TypeScript
// block of the README type-checks from outside the repo with that map
// (tools/check_readme.ts, which CI also runs).

import assert from "node:assert/strict";
import { documentedConfig, tsBlocks } from "../tools/check_readme.ts";

const root = new URL("../", import.meta.url);
const readme = Deno.readTextFileSync(new URL("README.md", root));

Deno.test("README: the documented import map names every entry point of deno.json's exports", () => {
  const { name, exports } = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root)));
  const expected = Object.fromEntries(
    Object.entries(exports as Record<string, string>).map(([key, file]) => [
      name + key.slice(1),
      `../regio/${file.replace(/^\.\//, "")}`,
    ]),
  );
  assert.deepEqual(documentedConfig(readme).imports, expected);
  assert.match(readme, /deno add jsr:@regio\/regio/);
  assert.match(readme, /"jsr:@regio\/regio@\^0\.1\.0"/);
  assert.ok(readme.includes('from "../regio/mod.ts"'), "the relative-import way");
});

Deno.test("README: every TypeScript block type-checks from outside the repo (tools/check_readme.ts)", async () => {
  assert.ok(tsBlocks(readme).length >= 6);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("tools/check_readme.ts", root).pathname],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert.equal(out.code, 0, text.decode(out.stdout) + text.decode(out.stderr));
});
