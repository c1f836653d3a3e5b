// Echo server on node:dgram, run by both Deno (`deno run -A`) and Node.js
// (`node`), for bench/udp.ts. Usage: <runtime> bench/servers/node_dgram.mjs [port]
// Prints {"event":"listening","port":n} once bound; stops on SIGTERM/SIGINT.
import dgram from "node:dgram";
import process from "node:process";

const port = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 0);
const socket = dgram.createSocket("udp4");
let echoed = 0;
socket.on("message", (msg, rinfo) => {
  socket.send(msg, rinfo.port, rinfo.address);
  echoed++;
});
socket.bind(port, "127.0.0.1", () => {
  console.log(JSON.stringify({ event: "listening", port: socket.address().port }));
});
const stop = () => {
  socket.close(() => {
    console.log(JSON.stringify({ event: "summary", echoed }));
    process.exit(0);
  });
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
