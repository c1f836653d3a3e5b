// Multicast and broadcast on the real kernel, inside a network namespace
// this test makes for itself (`unshare -n` as root, `unshare -rn` otherwise):
// loopback up, a veth pair v0/v1 with 10.9.0.1, 10.9.0.2, fd00:9::1 and fd00:9::2 on
// v0, and a multicast route out v0. The checks run in a subprocess there
// (tests/multicast_netns.ts). The host's network configuration is never
// touched; everything is sent to the namespace's own addresses. Where the
// machine does not allow a namespace, the test is skipped and its name says why.

import assert from "node:assert/strict";

const SETUP = [
  "ip link set lo up",
  "ip link add v0 type veth peer name v1",
  "ip link set v1 up",
  "ip link set v0 up",
  "ip addr add 10.9.0.1/24 dev v0",
  "ip addr add 10.9.0.2/24 dev v0",
  "ip -6 addr add fd00:9::1/64 dev v0 nodad",
  "ip -6 addr add fd00:9::2/64 dev v0 nodad",
  "ip route add 224.0.0.0/4 dev v0",
  "export REGIO_V0_INDEX=$(ip -o link show v0 | cut -d: -f1)",
].join(" && ");

function unshareArgs(): string[] {
  const root = Deno.uid() === 0;
  return root ? ["-n"] : ["-rn"];
}

/** Why a namespace with a veth pair cannot be made here, or null when it can. */
function unavailable(): string | null {
  if (Deno.build.os !== "linux") return `needs Linux network namespaces, this is ${Deno.build.os}`;
  const args = [...unshareArgs(), "sh", "-c", "ip link add v0 type veth peer name v1"];
  try {
    const out = new Deno.Command("unshare", { args, stdout: "null", stderr: "piped" })
      .outputSync();
    if (out.success) return null;
    const why = new TextDecoder().decode(out.stderr).trim();
    return `\`unshare ${args.slice(0, -1).join(" ")} '…'\` failed: ${why || `exit ${out.code}`}`;
  } catch (e) {
    return `cannot run unshare (util-linux): ${(e as Error).message}`;
  }
}

const reason = unavailable();

Deno.test({
  name: reason
    ? `udp multicast and broadcast in a private network namespace (skipped: ${reason})`
    : "udp multicast and broadcast in a private network namespace",
  ignore: reason !== null,
  async fn(): Promise<void> {
    const body = new URL("./multicast_netns.ts", import.meta.url).pathname;
    const deno = Deno.execPath();
    const out = await new Deno.Command("unshare", {
      args: [...unshareArgs(), "sh", "-c", `${SETUP} && exec "$0" run -A "$1"`, deno, body],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const err = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `${text}\n${err}`);
    const lines = text.trim().split("\n");
    assert.equal(lines.filter((l) => l.startsWith("ok ")).length, 8, text);
  },
});
