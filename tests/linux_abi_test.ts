// ABI conformance of ffi/linux/abi.ts: every struct size, field offset and
// constant that the system headers define is compared with what a C compiler
// says (<linux/io_uring.h>, <sys/socket.h>, <netinet/in.h>, <poll.h>, …).
// Newer flags the installed headers lack are skipped (listed in the output).

import assert from "node:assert/strict";
import * as A from "../ffi/linux/abi.ts";
import { ignore } from "./linux_util.ts";

type Check = [label: string, expr: string, value: number, guard?: string];

function struct(
  c: string,
  layout: Record<string, number>,
  fields: Record<string, string>,
): Check[] {
  const out: Check[] = [];
  if ("SIZE" in layout) out.push([`sizeof(${c})`, `sizeof(${c})`, layout.SIZE]);
  for (const [key, member] of Object.entries(fields)) {
    out.push([`${c}.${member}`, `offsetof(${c}, ${member})`, layout[key]]);
  }
  return out;
}

/** Constants that are macros (guarded with #ifdef) or enum members (always present in 6.1+ headers). */
function constants(prefix: string, table: Record<string, number>, macro: boolean): Check[] {
  return Object.entries(table).map(([k, v]) => {
    const name = `${prefix}${k}`;
    return [name, name, v, macro ? name : undefined];
  });
}

const CHECKS: Check[] = [
  ...struct("struct io_uring_params", A.IO_URING_PARAMS, {
    sq_entries: "sq_entries",
    cq_entries: "cq_entries",
    flags: "flags",
    sq_thread_cpu: "sq_thread_cpu",
    sq_thread_idle: "sq_thread_idle",
    features: "features",
    wq_fd: "wq_fd",
    sq_off: "sq_off",
    cq_off: "cq_off",
  }),
  ...struct("struct io_sqring_offsets", A.IO_SQRING_OFFSETS, {
    head: "head",
    tail: "tail",
    ring_mask: "ring_mask",
    ring_entries: "ring_entries",
    flags: "flags",
    dropped: "dropped",
    array: "array",
  }),
  ...struct("struct io_cqring_offsets", A.IO_CQRING_OFFSETS, {
    head: "head",
    tail: "tail",
    ring_mask: "ring_mask",
    ring_entries: "ring_entries",
    overflow: "overflow",
    cqes: "cqes",
    flags: "flags",
  }),
  ...struct("struct io_uring_sqe", A.IO_URING_SQE, {
    opcode: "opcode",
    flags: "flags",
    ioprio: "ioprio",
    fd: "fd",
    off: "off",
    addr2: "addr2",
    addr: "addr",
    len: "len",
    op_flags: "rw_flags",
    user_data: "user_data",
    buf_index: "buf_index",
    buf_group: "buf_group",
    personality: "personality",
    file_index: "file_index",
    addr_len: "addr_len",
    addr3: "addr3",
  }),
  ["io_uring_sqe.msg_flags", "offsetof(struct io_uring_sqe, msg_flags)", A.IO_URING_SQE.op_flags],
  [
    "io_uring_sqe.cancel_flags",
    "offsetof(struct io_uring_sqe, cancel_flags)",
    A.IO_URING_SQE.op_flags,
  ],
  [
    "io_uring_sqe.fsync_flags",
    "offsetof(struct io_uring_sqe, fsync_flags)",
    A.IO_URING_SQE.op_flags,
  ],
  ...struct("struct io_uring_cqe", A.IO_URING_CQE, {
    user_data: "user_data",
    res: "res",
    flags: "flags",
  }),
  ...struct("struct io_uring_rsrc_register", A.IO_URING_RSRC_REGISTER, {
    nr: "nr",
    flags: "flags",
    data: "data",
    tags: "tags",
  }),
  ...struct("struct io_uring_rsrc_update2", A.IO_URING_RSRC_UPDATE2, {
    offset: "offset",
    data: "data",
    tags: "tags",
    nr: "nr",
  }),
  ...struct("struct io_uring_buf_reg", A.IO_URING_BUF_REG, {
    ring_addr: "ring_addr",
    ring_entries: "ring_entries",
    bgid: "bgid",
  }),
  [
    "io_uring_buf_reg.flags (pad in older headers)",
    "offsetof(struct io_uring_buf_reg, ring_entries) + 6",
    A.IO_URING_BUF_REG.flags,
  ],
  ...struct("struct io_uring_buf", A.IO_URING_BUF, { addr: "addr", len: "len", bid: "bid" }),
  ["io_uring_buf_ring.tail", "offsetof(struct io_uring_buf_ring, tail)", A.IO_URING_BUF.RING_TAIL],
  ...struct("struct io_uring_recvmsg_out", A.IO_URING_RECVMSG_OUT, {
    namelen: "namelen",
    controllen: "controllen",
    payloadlen: "payloadlen",
    flags: "flags",
  }),
  ...struct("struct io_uring_probe", {
    SIZE: A.IO_URING_PROBE.SIZE,
    last_op: 0,
    ops_len: 1,
    ops: 16,
  }, {
    last_op: "last_op",
    ops_len: "ops_len",
    ops: "ops",
  }),
  ...struct("struct io_uring_probe_op", { SIZE: A.IO_URING_PROBE.OP_SIZE, op: 0, flags: 2 }, {
    op: "op",
    flags: "flags",
  }),
  ["IO_URING_OP_SUPPORTED", "IO_URING_OP_SUPPORTED", A.IO_URING_PROBE.OP_SUPPORTED],
  ...struct("struct io_uring_getevents_arg", A.IO_URING_GETEVENTS_ARG, {
    sigmask: "sigmask",
    sigmask_sz: "sigmask_sz",
    ts: "ts",
  }),
  [
    "sizeof(struct __kernel_timespec)",
    "sizeof(struct __kernel_timespec)",
    A.IO_URING_GETEVENTS_ARG.TIMESPEC_SIZE,
  ],
  ...struct("struct msghdr", A.MSGHDR, {
    name: "msg_name",
    namelen: "msg_namelen",
    iov: "msg_iov",
    iovlen: "msg_iovlen",
    control: "msg_control",
    controllen: "msg_controllen",
    flags: "msg_flags",
  }),
  ...struct("struct iovec", A.IOVEC, { base: "iov_base", len: "iov_len" }),
  ...struct("struct sockaddr_in", A.SOCKADDR_IN, {
    family: "sin_family",
    port: "sin_port",
    addr: "sin_addr",
  }),
  ...struct("struct sockaddr_in6", A.SOCKADDR_IN6, {
    family: "sin6_family",
    port: "sin6_port",
    flowinfo: "sin6_flowinfo",
    addr: "sin6_addr",
    scope_id: "sin6_scope_id",
  }),
  ...struct("struct pollfd", A.POLL, { fd: "fd", events: "events", revents: "revents" }),
  ["POLLIN", "POLLIN", A.POLL.POLLIN],
  ...struct("struct rlimit", { SIZE: A.RLIMIT.SIZE, cur: A.RLIMIT.cur, max: A.RLIMIT.max }, {
    cur: "rlim_cur",
    max: "rlim_max",
  }),
  ["RLIMIT_MEMLOCK", "RLIMIT_MEMLOCK", A.RLIMIT.MEMLOCK],
  ["RLIMIT_NOFILE", "RLIMIT_NOFILE", A.RLIMIT.NOFILE],
  ...constants("IORING_SETUP_", A.IORING_SETUP, true),
  ...constants("IORING_FEAT_", A.IORING_FEAT, true),
  ...constants("IORING_ENTER_", A.IORING_ENTER, true),
  ...constants("IORING_SQ_", A.IORING_SQ, true),
  ...constants("IORING_CQ_", A.IORING_CQ, true),
  ...constants("IORING_OP_", A.IORING_OP, false),
  ...constants("IOSQE_", A.IOSQE, true),
  ...constants("IORING_FSYNC_", A.IORING_FSYNC, true),
  ...constants("IORING_ASYNC_CANCEL_", A.IORING_ASYNC_CANCEL, true),
  ["IORING_RECVSEND_POLL_FIRST", "IORING_RECVSEND_POLL_FIRST", A.IORING_RECVSEND.POLL_FIRST],
  ["IORING_RECV_MULTISHOT", "IORING_RECV_MULTISHOT", A.IORING_RECVSEND.RECV_MULTISHOT],
  ["IORING_RECVSEND_FIXED_BUF", "IORING_RECVSEND_FIXED_BUF", A.IORING_RECVSEND.FIXED_BUF],
  ["IORING_CQE_F_BUFFER", "IORING_CQE_F_BUFFER", A.IORING_CQE.F_BUFFER],
  ["IORING_CQE_F_MORE", "IORING_CQE_F_MORE", A.IORING_CQE.F_MORE],
  ["IORING_CQE_F_SOCK_NONEMPTY", "IORING_CQE_F_SOCK_NONEMPTY", A.IORING_CQE.F_SOCK_NONEMPTY],
  ["IORING_CQE_F_NOTIF", "IORING_CQE_F_NOTIF", A.IORING_CQE.F_NOTIF],
  ["IORING_CQE_BUFFER_SHIFT", "IORING_CQE_BUFFER_SHIFT", A.IORING_CQE.BUFFER_SHIFT],
  ["IORING_OFF_SQ_RING", "IORING_OFF_SQ_RING", A.IORING_OFF.SQ_RING],
  ["IORING_OFF_CQ_RING", "IORING_OFF_CQ_RING", A.IORING_OFF.CQ_RING],
  ["IORING_OFF_SQES", "IORING_OFF_SQES", A.IORING_OFF.SQES],
  [
    "IORING_RSRC_REGISTER_SPARSE",
    "IORING_RSRC_REGISTER_SPARSE",
    A.IO_URING_RSRC_REGISTER.SPARSE,
    "IORING_RSRC_REGISTER_SPARSE",
  ],
  ["IORING_REGISTER_FILES_SKIP", "IORING_REGISTER_FILES_SKIP", A.IORING_FILES.SKIP],
  ...constants("IORING_REGISTER_", {
    BUFFERS: A.IORING_REGISTER.BUFFERS,
    FILES: A.IORING_REGISTER.FILES,
    EVENTFD: A.IORING_REGISTER.EVENTFD,
    PROBE: A.IORING_REGISTER.PROBE,
    FILES2: A.IORING_REGISTER.FILES2,
    FILES_UPDATE2: A.IORING_REGISTER.FILES_UPDATE2,
    BUFFERS2: A.IORING_REGISTER.BUFFERS2,
    PBUF_RING: A.IORING_REGISTER.PBUF_RING,
  }, false),
  ...["UNREGISTER_BUFFERS", "UNREGISTER_FILES", "UNREGISTER_EVENTFD", "UNREGISTER_PBUF_RING"].map((
    k,
  ): Check => [`IORING_${k}`, `IORING_${k}`, (A.IORING_REGISTER as Record<string, number>)[k]]),
  ["__NR_io_uring_setup", "__NR_io_uring_setup", A.SYS.io_uring_setup],
  ["__NR_io_uring_enter", "__NR_io_uring_enter", A.SYS.io_uring_enter],
  ["__NR_io_uring_register", "__NR_io_uring_register", A.SYS.io_uring_register],
  ...constants("", A.SOCK, true),
  ...constants("", A.SOCKOPT, true),
  ...struct("struct ip_mreqn", A.IP_MREQN, {
    multiaddr: "imr_multiaddr",
    address: "imr_address",
    ifindex: "imr_ifindex",
  }),
  ...struct("struct ip_mreq_source", A.IP_MREQ_SOURCE, {
    multiaddr: "imr_multiaddr",
    interface: "imr_interface",
    sourceaddr: "imr_sourceaddr",
  }),
  ...struct("struct ipv6_mreq", A.IPV6_MREQ, {
    multiaddr: "ipv6mr_multiaddr",
    ifindex: "ipv6mr_interface",
  }),
  ...struct("struct group_source_req", A.GROUP_SOURCE_REQ, {
    interface: "gsr_interface",
    group: "gsr_group",
    source: "gsr_source",
  }),
  ...constants("PROT_", { READ: A.MMAP.PROT_READ, WRITE: A.MMAP.PROT_WRITE }, true),
  ...constants("", {
    MAP_SHARED: A.MMAP.MAP_SHARED,
    MAP_PRIVATE: A.MMAP.MAP_PRIVATE,
    MAP_ANONYMOUS: A.MMAP.MAP_ANONYMOUS,
    MAP_NORESERVE: A.MMAP.MAP_NORESERVE,
    MAP_POPULATE: A.MMAP.MAP_POPULATE,
  }, true),
  ...constants("EFD_", A.EFD, true),
  ...constants("O_", A.O, true),
  ...constants("", A.ERRNO, true),
  ...constants("", A.UDP_OPT, true),
  ...struct("struct cmsghdr", A.CMSGHDR, {
    len: "cmsg_len",
    level: "cmsg_level",
    type: "cmsg_type",
  }),
  ["CMSG_ALIGN(1)", "CMSG_ALIGN(1)", A.CMSGHDR.ALIGN],
  ...struct("struct in_pktinfo", A.IN_PKTINFO, {
    ifindex: "ipi_ifindex",
    spec_dst: "ipi_spec_dst",
    addr: "ipi_addr",
  }),
  ...struct("struct in6_pktinfo", A.IN6_PKTINFO, { addr: "ipi6_addr", ifindex: "ipi6_ifindex" }),
  ["SK_MEMINFO_DROPS", "SK_MEMINFO_DROPS", A.SK_MEMINFO.DROPS],
  ["SK_MEMINFO_VARS", "SK_MEMINFO_VARS", A.SK_MEMINFO.VARS],
  ["AT_EMPTY_PATH", "AT_EMPTY_PATH", A.STATX.AT_EMPTY_PATH],
  ["STATX_TYPE", "STATX_TYPE", A.STATX.STATX_TYPE],
  ["sizeof(struct statx)", "sizeof(struct statx)", A.STATX.SIZE],
  ["statx.stx_mode", "offsetof(struct statx, stx_mode)", A.STATX.stx_mode],
  ["S_IFMT", "S_IFMT", A.STATX.S_IFMT],
  ["S_IFDIR", "S_IFDIR", A.STATX.S_IFDIR],
];

function source(): string {
  const lines = CHECKS.map(([label, expr, , guard]) => {
    const print = `printf("%s %lld\\n", ${JSON.stringify(label)}, (long long)(${expr}));`;
    return guard ? `#ifdef ${guard}\n  ${print}\n#endif` : `  ${print}`;
  });
  return `#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/io_uring.h>
#include <linux/sock_diag.h>
int main(void) {
${lines.join("\n")}
  return 0;
}
`;
}

function compilerReady(): boolean {
  if (ignore) return false;
  try {
    Deno.statSync("/usr/include/linux/io_uring.h");
    return new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "linux abi: ffi/linux/abi.ts matches the C headers (gcc, <linux/io_uring.h>)",
  ignore: !compilerReady(),
  async fn(): Promise<void> {
    const dir = Deno.makeTempDirSync({ prefix: "regio_abi_" });
    try {
      Deno.writeTextFileSync(`${dir}/abi.c`, source());
      const cc = await new Deno.Command("gcc", {
        args: ["-O0", "-o", `${dir}/abi`, `${dir}/abi.c`],
        stderr: "piped",
      }).output();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      const run = await new Deno.Command(`${dir}/abi`, { stdout: "piped" }).output();
      const measured = new Map<string, number>();
      for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
        const at = line.lastIndexOf(" ");
        measured.set(line.slice(0, at), Number(line.slice(at + 1)));
      }
      const mismatches: string[] = [];
      const absent: string[] = [];
      for (const [label, , value] of CHECKS) {
        const c = measured.get(label);
        if (c === undefined) absent.push(label);
        else if (c !== value) mismatches.push(`${label}: C says ${c}, abi.ts says ${value}`);
      }
      assert.deepEqual(mismatches, []);
      assert.ok(measured.size > 150, `only ${measured.size} values were compared`);
      if (absent.length) console.log(`not in the installed headers (newer): ${absent.join(", ")}`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("linux abi: UDP offload constants and cmsg layouts have their literal values", () => {
  assert.deepEqual({ ...A.UDP_OPT }, {
    IPPROTO_IP: 0,
    IPPROTO_IPV6: 41,
    SOL_UDP: 17,
    SO_NO_CHECK: 11,
    UDP_NO_CHECK6_TX: 101,
    UDP_NO_CHECK6_RX: 102,
    UDP_SEGMENT: 103,
    UDP_GRO: 104,
    IP_TOS: 1,
    IP_PKTINFO: 8,
    IP_RECVTOS: 13,
    IPV6_RECVPKTINFO: 49,
    IPV6_PKTINFO: 50,
    IPV6_RECVTCLASS: 66,
    IPV6_TCLASS: 67,
    MSG_CTRUNC: 8,
  });
  assert.deepEqual({ ...A.CMSGHDR }, { SIZE: 16, len: 0, level: 8, type: 12, ALIGN: 8 });
  assert.deepEqual({ ...A.IN_PKTINFO }, { SIZE: 12, ifindex: 0, spec_dst: 4, addr: 8 });
  assert.deepEqual({ ...A.IN6_PKTINFO }, { SIZE: 20, addr: 0, ifindex: 16 });
  assert.deepEqual({ ...A.UDP_LIMITS }, {
    MAX_SEGMENTS: 64,
    MAX_PAYLOAD_V4: 65507,
    MAX_PAYLOAD_V6: 65527,
  });
});
