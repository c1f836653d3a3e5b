/**
 * The architecture test: reads the real module graph with `deno info --json`
 * and holds the layering rules of DESIGN.md ("Layers"): no import cycles,
 * imports run one way, modules stay small, and nothing under src/ or ffi/ is dead.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The repository root, so the test works from any clone location. */
const ROOT = new URL("../", import.meta.url);
/** Folders whose every .ts file is a root of the graph (plus mod.ts). */
const SOURCE_DIRS = ["src", "ffi", "examples", "bench", "tools", "tests"];
/** The package's entry points (deno.json "exports"). */
const ENTRY_POINTS = ["mod.ts", "src/windows/mod.ts", "src/linux/mod.ts"];
/** The house rule is "about 500 lines"; this is the hard limit. */
const MAX_LINES = 500;

/** Repo-relative path → repo-relative paths it imports (`code` and `type` dependencies). */
type Graph = Map<string, Set<string>>;

/** Every .ts file under `dir` (repo-relative), recursively. */
async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await listTs(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The repo-relative path of a file: URL inside the repo, or undefined for anything else. */
function local(specifier: string | undefined): string | undefined {
  if (!specifier?.startsWith(ROOT.href)) return undefined;
  return decodeURIComponent(specifier.slice(ROOT.href.length));
}

/** What the tests read: every root file, and the graph of local modules. */
type Repo = { files: string[]; graph: Graph };

/** Runs `deno info --json` once, on a data: module that imports every root; counts type-only edges. */
async function readGraph(roots: string[]): Promise<{ graph: Graph; typeOnly: number }> {
  const source = roots.map((r) => `import ${JSON.stringify(new URL(r, ROOT).href)};`).join("\n");
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `data:application/typescript,${encodeURIComponent(source)}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, `deno info failed:\n${new TextDecoder().decode(stderr)}`);
  type Dep = { specifier?: string; error?: string };
  type Module = {
    specifier: string;
    error?: string;
    dependencies?: { specifier: string; code?: Dep; type?: Dep }[];
  };
  const info: { modules: Module[] } = JSON.parse(new TextDecoder().decode(stdout));
  const graph: Graph = new Map();
  let typeOnly = 0;
  for (const m of info.modules) {
    const from = local(m.specifier);
    if (from === undefined) continue;
    assert.equal(m.error, undefined, `deno info: ${from}: ${m.error}`);
    const deps = new Set<string>();
    for (const d of m.dependencies ?? []) {
      for (const resolved of [d.code, d.type]) {
        assert.equal(resolved?.error, undefined, `deno info: ${from}: ${resolved?.error}`);
        const to = local(resolved?.specifier);
        if (to !== undefined) deps.add(to);
      }
      if (!d.code && local(d.type?.specifier)) typeOnly++;
    }
    graph.set(from, deps);
  }
  return { graph, typeOnly };
}

/** Fails with one offender per line, under a heading that says which rule broke. */
function none(offenders: string[], rule: string): void {
  if (offenders.length > 0) assert.fail(`${rule}:\n  ${offenders.join("\n  ")}`);
}

/** Reads the graph and checks that it was read at all, so no rule can pass vacuously. */
async function loadGraph(): Promise<Repo> {
  const files = ["mod.ts", ...(await Promise.all(SOURCE_DIRS.map(listTs))).flat()].sort();
  const { graph, typeOnly } = await readGraph(files);
  const missing = files.filter((f) => !graph.has(f));
  none(missing, "deno info did not report these roots");
  assert.ok(graph.size > 40, `only ${graph.size} local modules in the graph`);
  assert.ok(
    graph.get("mod.ts")?.has("src/support.ts"),
    "known edge mod.ts → src/support.ts missing",
  );
  assert.ok(typeOnly > 0, "deno info reported no `import type` edge; were they dropped?");
  return { files, graph };
}

let cached: Promise<Repo> | undefined;
/** The graph, read once for all the tests in this file. */
function repo(): Promise<Repo> {
  return cached ??= loadGraph();
}

/** Every edge `from → to` where `from` matches `source` and `to` matches `target`. */
function edges(graph: Graph, source: RegExp, target: RegExp): string[] {
  return [...graph].flatMap(([from, deps]) =>
    source.test(from)
      ? [...deps].filter((to) => target.test(to)).map((to) => `${from} → ${to}`)
      : []
  );
}

/** Groups of modules that import each other in a circle (Tarjan's strongly connected components). */
function tangles(graph: Graph): string[][] {
  const order = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string): number => {
    let min = order.size;
    order.set(node, min);
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (!order.has(dep)) min = Math.min(min, visit(dep));
      else if (stack.includes(dep)) min = Math.min(min, order.get(dep) ?? min);
    }
    if (min === order.get(node)) {
      const group = stack.splice(stack.indexOf(node)).sort();
      if (group.length > 1 || graph.get(node)?.has(node)) found.push(group);
    }
    return min;
  };
  for (const node of [...graph.keys()].sort()) if (!order.has(node)) visit(node);
  return found;
}

/** The shortest cycle from a tangle's first module back to itself, e.g. `[a, b, a]`. */
function shortestCycle(graph: Graph, group: string[]): string[] {
  const [start] = group;
  const seen = new Set([start]);
  const queue = [[start]];
  for (const path of queue) {
    for (const dep of graph.get(path[path.length - 1]) ?? []) {
      if (dep === start) return [...path, start];
      if (!group.includes(dep) || seen.has(dep)) continue;
      seen.add(dep);
      queue.push([...path, dep]);
    }
  }
  return group; // unreachable: every member of a tangle lies on a cycle
}

/** One line per tangle: its shortest cycle, and the rest of the tangle if it is bigger. */
function cycles(graph: Graph): string[] {
  return tangles(graph).map((group) => {
    const cycle = shortestCycle(graph, group);
    const more = group.length > cycle.length - 1
      ? ` (tangle of ${group.length}: ${group.join(", ")})`
      : "";
    return cycle.join(" → ") + more;
  });
}

/** Every module reachable from `roots`, following `code` and `type` edges. */
function reachable(graph: Graph, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const walk = (node: string): void => {
    if (seen.has(node)) return;
    seen.add(node);
    for (const dep of graph.get(node) ?? []) walk(dep);
  };
  roots.forEach(walk);
  return seen;
}

const LIBRARY = /^(src|ffi)\//;

Deno.test("architecture: the module graph is read in full", async () => {
  await repo(); // loadGraph's own assertions are the test
});

Deno.test("architecture: no import cycle (type-only imports count)", async () => {
  // The detector itself, on known graphs, so an empty answer means "no cycle", not "broken".
  const known: Graph = new Map([
    ["a.ts", new Set(["b.ts"])],
    ["b.ts", new Set(["a.ts", "c.ts"])],
    ["c.ts", new Set()],
    ["d.ts", new Set(["d.ts"])],
  ]);
  assert.deepEqual(cycles(known), ["a.ts → b.ts → a.ts", "d.ts → d.ts"]);
  assert.deepEqual(cycles(new Map([["a.ts", new Set(["c.ts"])], ["c.ts", new Set()]])), []);
  none(cycles((await repo()).graph), "import cycles");
});

Deno.test("architecture: ffi/ imports nothing outside ffi/", async () => {
  none(edges((await repo()).graph, /^ffi\//, /^(?!ffi\/)/), "ffi/ imports outside ffi/");
});

Deno.test("architecture: platform wrappers never import the portable layer", async () => {
  const portable = /^(mod\.ts|src\/(udp|files)([/_.]))/;
  none(edges((await repo()).graph, /^src\/(linux|windows)\//, portable), "wrapper → portable API");
});

Deno.test("architecture: src/ and ffi/ never import examples, bench, tools or tests", async () => {
  const outside = /^(examples|bench|tools|tests)\//;
  none(edges((await repo()).graph, LIBRARY, outside), "library → non-library code");
});

Deno.test(`architecture: no module in src/ or ffi/ over ${MAX_LINES} lines`, async () => {
  const { files } = await repo();
  const counts = await Promise.all(
    files.filter((f) => LIBRARY.test(f)).map(async (f) => {
      const text = await Deno.readTextFile(new URL(f, ROOT));
      return { f, lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0) };
    }),
  );
  const over = counts.filter((c) => c.lines > MAX_LINES).sort((a, b) => b.lines - a.lines);
  none(over.map((c) => `${c.f} ${c.lines}`), `modules over ${MAX_LINES} lines`);
});

Deno.test("architecture: every module in src/ and ffi/ is reachable from an entry point", async () => {
  const { graph } = await repo();
  const live = reachable(graph, ENTRY_POINTS);
  const dead = [...graph.keys()].filter((f) => LIBRARY.test(f) && !live.has(f)).sort();
  none(dead, `modules no entry point (${ENTRY_POINTS.join(", ")}) reaches`);
});
