// Echo server on Deno.listenDatagram (needs --unstable-net), for bench/udp.ts.
// Usage: deno run -A --unstable-net bench/servers/deno_listen_datagram.ts [port] [--await-send]
// Prints {"event":"listening","port":n} once bound; stops on SIGTERM/SIGINT.
//
// The receive buffer is reused, so a fire-and-forget send must send a copy
// (the next receive would overwrite the bytes under a pending send);
// --await-send sends the buffer itself and waits for each send instead.

const port = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 0);
const awaitSend = Deno.args.includes("--await-send");
const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
console.log(JSON.stringify({ event: "listening", port: (conn.addr as Deno.NetAddr).port }));
let closed = false;
const stop = (): void => {
  if (!closed) conn.close();
  closed = true;
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
const buf = new Uint8Array(65536);
let echoed = 0;
try {
  for (;;) {
    const [data, addr] = await conn.receive(buf);
    if (awaitSend) await conn.send(data, addr);
    else conn.send(data.slice(), addr).catch(() => {});
    echoed++;
  }
} catch (e) {
  if (!closed) throw e;
}
console.log(JSON.stringify({ event: "summary", echoed }));
Deno.exit(0);
