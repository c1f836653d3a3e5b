// File errors name the file: a directory among the paths fails at open
// (EISDIR, naming it), and a write to a file opened read-only says so and
// names the file.

import assert from "node:assert/strict";
import { ErrnoError, FileRing } from "../mod.ts";
import { ignore, pattern, tempDir } from "./linux_util.ts";

Deno.test({
  name: "files: openFiles of a directory fails at open with EISDIR naming it; nothing is left open",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const file = `${dir.path}/f`;
    Deno.writeFileSync(file, pattern(10, 1));
    await using ring = FileRing.open({ depth: 2 });
    await assert.rejects(
      ring.openFiles([file, dir.path]),
      (e: unknown) =>
        e instanceof ErrnoError && e.codeName === "EISDIR" && e.message.includes(dir.path),
    );
    using _files = await ring.openFiles([file]); // the failed set left nothing registered
  },
});

Deno.test({
  name: "files: a write to a file opened read-only is EBADF, says so and names the file",
  ignore,
  async fn(): Promise<void> {
    using dir = tempDir();
    const p = `${dir.path}/ro`;
    Deno.writeFileSync(p, pattern(100, 1));
    await using ring = FileRing.open({ depth: 2 });
    using _files = await ring.openFiles([p]);
    using _pool = await ring.registerBuffers({ count: 1, size: 100 });
    await assert.rejects(
      ring.write({ file: 0, buffer: 0, length: 100, position: 0 }),
      (e: unknown) =>
        e instanceof ErrnoError && e.codeName === "EBADF" && e.message.includes(p) &&
        /read-only/.test(e.message),
    );
    assert.deepEqual(Deno.readFileSync(p), pattern(100, 1));
  },
});
