// tools/abi_json.ts and tools/abi_mingw.ts: the JSON document's shape and a
// few literal values from shared/reference/windows-api.md, that `deno task
// abi` needs no permissions, and that the mingw plan covers the module.

import assert from "node:assert/strict";
import { abiJson } from "../tools/abi_json.ts";
import { plan } from "../tools/abi_mingw.ts";

Deno.test("abi_json: SDK names, literal values, sentinels as hex strings, the GUID", () => {
  const doc = JSON.parse(JSON.stringify(abiJson()));
  assert.deepEqual(doc.structs.IORING_CQE, {
    size: 24,
    align: 8,
    fields: { UserData: 0, ResultCode: 8, Information: 16 },
  });
  assert.equal(doc.structs.RIO_EXTENSION_FUNCTION_TABLE.size, 112);
  assert.equal(doc.structs.WSADATA.fields.szSystemStatus, 273);
  assert.equal(doc.constants.IORING_E_SUBMISSION_QUEUE_FULL, -2142896126);
  assert.equal(doc.constants.AF_INET6, 23);
  assert.equal(doc.constants.SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, 0xc8000024);
  assert.equal(doc.constants.INVALID_HANDLE_VALUE, "0xFFFFFFFFFFFFFFFF");
  assert.equal(doc.constants.INVALID_SOCKET, "0xFFFFFFFFFFFFFFFF");
  assert.deepEqual(doc.guids.WSAID_MULTIPLE_RIO, {
    text: "{8509e081-96dd-4005-b165-9e2ee8c79e3f}",
    bytes: "81e00985dd960540b1659e2ee8c79e3f",
  });
});

Deno.test("abi_json: `deno run tools/abi_json.ts` runs with no permissions and prints that JSON", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", new URL("../tools/abi_json.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.deepEqual(doc, JSON.parse(JSON.stringify(abiJson())));
});

Deno.test("abi_mingw plan: every struct and constant is either asserted or explicitly skipped", () => {
  const p = plan();
  const json = abiJson() as {
    structs: Record<string, unknown>;
    constants: Record<string, unknown>;
  };
  const skipped = new Set(p.skipped.map(([n]) => n));
  const checkedStructs = new Set(p.checkedStructs.map((s) => s.split(" ")[0]));
  for (const name of Object.keys(json.structs)) {
    assert.ok(checkedStructs.has(name) !== skipped.has(name), `struct ${name}`);
  }
  for (const name of Object.keys(json.constants)) {
    assert.ok(p.checkedConstants.includes(name) !== skipped.has(name), `constant ${name}`);
  }
  // IoRing v1 and Winsock layouts are really checked, RIO is the documented gap.
  for (const s of ["IORING_CQE", "IORING_BUFFER_REF", "WSADATA", "SOCKADDR_INET", "GUID"]) {
    assert.ok(checkedStructs.has(s), s);
  }
  for (const s of ["RIO_BUF", "RIORESULT", "RIO_NOTIFICATION_COMPLETION"]) {
    assert.ok(skipped.has(s));
  }
  assert.match(
    p.c,
    /_Static_assert\(offsetof\(IORING_BUFFER_REF, Buffer\.IndexAndOffset\.Offset\) == 12,/,
  );
  assert.match(p.c, /#define NTDDI_VERSION 0x0A00000B/);
});

Deno.test("abi_mingw plan: the dual-stack option (IPPROTO_IPV6 41, IPV6_V6ONLY 27) is compiled, not skipped", () => {
  const p = plan();
  for (const name of ["IPPROTO_IPV6", "IPV6_V6ONLY", "ERROR_MORE_DATA", "ERROR_PORT_UNREACHABLE"]) {
    assert.ok(p.checkedConstants.includes(name), name);
  }
  assert.match(p.c, /_Static_assert\(\(long long\)\(IPPROTO_IPV6\) == 41LL,/);
  assert.match(p.c, /_Static_assert\(\(long long\)\(IPV6_V6ONLY\) == 27LL,/);
});
