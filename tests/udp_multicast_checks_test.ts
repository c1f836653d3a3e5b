// The portable multicast checks (src/udp/multicast.ts), on any OS: group
// addresses, interfaces and sources become network-order bytes, and bad
// ones are TypeErrors before anything reaches a kernel.

import assert from "node:assert/strict";
import { interfaceRef, membership } from "../src/udp/multicast.ts";
import { backendOptions, socketSettings } from "../src/udp/options.ts";

Deno.test("multicast checks: groups, interfaces and sources", () => {
  assert.deepEqual(membership(4, "239.1.2.3"), {
    group: new Uint8Array([239, 1, 2, 3]),
    source: null,
    address: null,
    ifindex: 0,
  });
  const m = membership(4, "232.0.0.1", { interface: "10.0.0.1", source: "10.0.0.2" });
  assert.deepEqual(m.address, new Uint8Array([10, 0, 0, 1]));
  assert.deepEqual(m.source, new Uint8Array([10, 0, 0, 2]));
  assert.equal(membership(6, "ff12::1", { interface: 3 }).ifindex, 3);
  assert.equal(membership(6, "ff02::1").group.length, 16);
  assert.throws(() => membership(4, "10.0.0.1"), /not a multicast address/);
  assert.throws(() => membership(6, "fe80::1"), /not a multicast address/);
  assert.throws(() => membership(4, "ff02::1"), /numeric IPv4/);
  assert.throws(() => membership(6, "ff02::1", { interface: "10.0.0.1" }), /by index/);
  const ssm6 = membership(6, "ff32::8000:1", { interface: 2, source: "fd00::9" });
  assert.deepEqual(ssm6.source, new Uint8Array([0xfd, ...new Array(14).fill(0), 9]));
  assert.equal(ssm6.ifindex, 2, "an IPv6 source-specific membership names its interface by index");
  assert.throws(() => membership(6, "ff32::1", { source: "10.0.0.1" }), /numeric IPv6 address/);
  assert.throws(() => membership(4, "232.1.1.1", { source: "::1" }), /numeric IPv4 address/);
  assert.throws(() => membership(4, "239.1.1.1", { source: "x" }), TypeError);
  assert.throws(() => membership(4, "239.1.1.1", { interface: 2, source: "10.0.0.1" }), /by IPv4/);
  assert.throws(() => interfaceRef(4, -1), RangeError);
  assert.throws(() => interfaceRef(4, "eth0"), /not a numeric IPv4/);
});

Deno.test("multicast checks: bind options", () => {
  const o = backendOptions({ multicastTTL: 4, multicastLoopback: false, multicastInterface: 2 });
  assert.deepEqual(o.multicast, {
    ttl: 4,
    loopback: false,
    interface: { address: null, ifindex: 2 },
  });
  assert.equal(backendOptions({}).multicast, undefined);
  assert.throws(() => backendOptions({ multicastTTL: 256 }), RangeError);
  assert.throws(() => backendOptions({ broadcast: "yes" as unknown as boolean }), TypeError);
  assert.throws(
    () => backendOptions({ hostname: "::1", multicastInterface: "1.2.3.4" }),
    /by index/,
  );
});

Deno.test("multicast checks: setOptions settings", () => {
  assert.deepEqual(socketSettings(4, { broadcast: false }), {
    broadcast: false,
    multicast: undefined,
  });
  assert.deepEqual(socketSettings(6, { multicastTTL: 0, multicastInterface: 3 }), {
    broadcast: undefined,
    multicast: { ttl: 0, loopback: undefined, interface: { address: null, ifindex: 3 } },
  });
  assert.deepEqual(socketSettings(4, {}), { broadcast: undefined, multicast: undefined });
  assert.throws(() => socketSettings(4, { gro: true } as never), /cannot change gro/);
  assert.throws(() => socketSettings(4, { multicastLoopback: 1 as never }), /must be a boolean/);
  assert.throws(() => socketSettings(6, { multicastInterface: "10.0.0.1" }), /by index/);
});
