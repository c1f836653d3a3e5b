/**
 * Type-checks every ```ts block of README.md (those marked `ts ignore` too) as
 * a new user's code outside the repository, set up the way README's
 * "Getting regio" section says: a project folder next to the checkout
 * (`../regio`), with that section's `deno.json` ("imports") verbatim.
 *
 *   deno run -A tools/check_readme.ts [README.md]
 *
 * Exit code 0 when every block type-checks, 1 otherwise (the output says
 * which block, with its line in README.md). Needs no network.
 *
 * @module
 */

/** A fenced block of the README: its info string, first line number and text. */
export interface Block {
  /** The fence's info string, e.g. `ts ignore`. */
  info: string;
  /** 1-based line of the block's first code line in README.md. */
  line: number;
  /** The code. */
  code: string;
}

/** Every fenced block of `markdown`, in order. */
export function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S.*)?$/.exec(lines[i]);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== "```") end++;
    blocks.push({
      info: (open[1] ?? "").trim(),
      line: start + 1,
      code: lines.slice(start, end).join("\n"),
    });
    i = end;
  }
  return blocks;
}

/** The TypeScript blocks (```ts, ```ts ignore, ```typescript …). */
export function tsBlocks(markdown: string): Block[] {
  return fencedBlocks(markdown).filter((b) => /^(ts|typescript)(\s|$)/.test(b.info));
}

/** The `deno.json` README tells a git-checkout user to write: the json block with "imports". */
export function documentedConfig(markdown: string): { imports: Record<string, string> } {
  const block = fencedBlocks(markdown).find((b) =>
    /^jsonc?(\s|$)/.test(b.info) && b.code.includes('"imports"')
  );
  if (!block) {
    throw new Error('README.md has no ```json block with "imports" (the install section)');
  }
  return JSON.parse(block.code);
}

async function main(): Promise<number> {
  const repo = new URL("../", import.meta.url).pathname;
  const readmePath = Deno.args[0] ?? `${repo}README.md`;
  const markdown = Deno.readTextFileSync(readmePath);
  const config = documentedConfig(markdown);
  const blocks = tsBlocks(markdown);
  if (blocks.length === 0) throw new Error("README.md has no ```ts blocks");
  // <tmp>/regio is the checkout, <tmp>/app the user's project beside it.
  const root = Deno.makeTempDirSync({ prefix: "regio_readme_" });
  try {
    Deno.symlinkSync(repo.replace(/\/$/, ""), `${root}/regio`);
    Deno.mkdirSync(`${root}/app`);
    Deno.writeTextFileSync(`${root}/app/deno.json`, JSON.stringify(config, null, 2));
    const files = blocks.map((b, i) => {
      const name = `block_${String(i + 1).padStart(2, "0")}_line_${b.line}.ts`;
      Deno.writeTextFileSync(`${root}/app/${name}`, b.code + "\n");
      return name;
    });
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", ...files],
      cwd: `${root}/app`,
      env: { NO_COLOR: "1" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    console.log(
      out.success
        ? `README.md: ${blocks.length} TypeScript blocks type-check from outside the repo`
        : `README.md: a TypeScript block does not type-check (block_N_line_L.ts is README line L)`,
    );
    return out.success ? 0 : 1;
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main());
