/*
 * YARDSTICK, NOT PART OF REGIO: a C UDP echo server with receive coalescing
 * (UDP_GRO) and send segmentation (UDP_SEGMENT), the reference bench/udp.ts
 * measures regio's train rounds against. Each coalesced receive is echoed as one
 * segmented send of the same bytes from the same buffer (split only where it
 * holds more than 64 segments, the kernel's limit per send); a plain datagram is
 * echoed as a plain send. When the kernel refuses a segmented send (EIO and the
 * like) it falls back to one send per datagram for good and counts it.
 * Compiled by the benchmark into a temp dir; Linux 5.0+ only.
 *
 *   udp_echo_gro [--host 127.0.0.1] [--port 9000] [--batch 16] [--rcvbuf BYTES] [--sndbuf BYTES]
 *
 * Prints {"event":"listening",...} once bound and {"event":"summary",...} after
 * SIGINT/SIGTERM, one JSON object per line, like examples/udp_echo.ts --json.
 */
#include "yardstick.h"

static const char USAGE[] =
    "Usage: udp_echo_gro [--host IP] [--port N] [--batch N] [--rcvbuf BYTES] [--sndbuf BYTES]\n"
    "A C UDP echo server with UDP_GRO receives and UDP_SEGMENT sends\n"
    "(a benchmark yardstick, not part of regio). Stops on SIGINT/SIGTERM, prints a JSON summary.\n";

#define MAX_BATCH 256
#define BUFFER 65536 /* one whole super-packet per receive buffer */
#define OUT 256      /* sends gathered before one sendmmsg */

struct out_queue {
  struct mmsghdr msgs[OUT];
  struct iovec iov[OUT];
  union {
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control[OUT];
  uint16_t segments[OUT]; /* datagrams in each message */
  uint16_t seg_size[OUT]; /* bytes per datagram, all but the last */
  int n;
};

static int fd;
static int gso = 1; /* cleared for good when the kernel refuses a segmented send */
static uint64_t datagrams_out, bytes_out, send_calls, trains_out, send_errors, gso_fallbacks;

/* Sends message `m` of `q` one datagram at a time (the fallback path). */
static void send_each(struct out_queue *q, int m) {
  struct msghdr *h = &q->msgs[m].msg_hdr;
  size_t len = q->iov[m].iov_len, seg = q->seg_size[m];
  for (size_t off = 0; off < len; off += seg) {
    size_t n = len - off < seg ? len - off : seg;
    struct iovec v = {.iov_base = (char *)q->iov[m].iov_base + off, .iov_len = n};
    struct msghdr one = {.msg_name = h->msg_name, .msg_namelen = h->msg_namelen, .msg_iov = &v,
                         .msg_iovlen = 1};
    send_calls++;
    if (sendmsg(fd, &one, 0) < 0) send_errors++;
    else {
      datagrams_out++;
      bytes_out += n;
    }
  }
}

static void flush(struct out_queue *q) {
  for (int done = 0; done < q->n;) {
    int s = sendmmsg(fd, q->msgs + done, (unsigned)(q->n - done), 0);
    send_calls++;
    if (s < 0) {
      if (errno == EINTR) continue;
      int refused = errno == EIO || errno == EINVAL || errno == EOPNOTSUPP;
      if (q->segments[done] > 1 && refused) { /* per datagram from now on */
        gso = 0;
        gso_fallbacks++;
        send_each(q, done);
      } else send_errors++;
      done++;
      continue;
    }
    for (int k = done; k < done + s; k++) {
      bytes_out += q->iov[k].iov_len;
      datagrams_out += q->segments[k];
      if (q->segments[k] > 1) trains_out++;
    }
    done += s;
  }
  q->n = 0;
}

/* Queues `len` bytes at `data` for `name`, as a train of `seg`-byte segments when it holds more than one. */
static void queue(struct out_queue *q, char *data, size_t len, size_t seg,
                  struct sockaddr_storage *name, socklen_t namelen) {
  if (q->n == OUT) flush(q);
  int m = q->n++;
  size_t count = seg ? (len + seg - 1) / seg : 1;
  q->iov[m] = (struct iovec){.iov_base = data, .iov_len = len};
  q->msgs[m].msg_hdr = (struct msghdr){.msg_name = name, .msg_namelen = namelen,
                                       .msg_iov = &q->iov[m], .msg_iovlen = 1};
  q->segments[m] = (uint16_t)count;
  q->seg_size[m] = (uint16_t)(count > 1 ? seg : len);
  if (count > 1) {
    struct msghdr *h = &q->msgs[m].msg_hdr;
    h->msg_control = q->control[m].bytes;
    h->msg_controllen = sizeof q->control[m].bytes;
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    *(uint16_t *)CMSG_DATA(c) = (uint16_t)seg;
    if (!gso) { /* known refused: go straight to the fallback */
      send_each(q, m);
      q->n--;
    }
  }
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9000, batch = 16;
  long rcvbuf = 0, sndbuf = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--host")) host = ys_value(argc, argv, &i, "udp_echo_gro", USAGE);
    else if (!strcmp(a, "--port"))
      port = (int)ys_number(ys_value(argc, argv, &i, "udp_echo_gro", USAGE), a, 0, 65535);
    else if (!strcmp(a, "--batch"))
      batch = (int)ys_number(ys_value(argc, argv, &i, "udp_echo_gro", USAGE), a, 1, MAX_BATCH);
    else if (!strcmp(a, "--rcvbuf"))
      rcvbuf = (long)ys_number(ys_value(argc, argv, &i, "udp_echo_gro", USAGE), a, 1, 1 << 30);
    else if (!strcmp(a, "--sndbuf"))
      sndbuf = (long)ys_number(ys_value(argc, argv, &i, "udp_echo_gro", USAGE), a, 1, 1 << 30);
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) ys_usage_exit("udp_echo_gro", USAGE, NULL);
    else {
      char why[256];
      snprintf(why, sizeof why, "unknown argument \"%s\"", a);
      ys_usage_exit("udp_echo_gro", USAGE, why);
    }
  }

  struct sockaddr_storage local;
  socklen_t local_len = ys_address(host, port, &local);
  if (!local_len) ys_usage_exit("udp_echo_gro", USAGE, "--host must be a numeric IP address");
  fd = socket(local.ss_family, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&local, local_len) != 0) {
    fprintf(stderr, "udp_echo_gro: cannot bind %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  int on = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
    fprintf(stderr, "udp_echo_gro: setsockopt(UDP_GRO): %s\n", strerror(errno));
    return 1;
  }
  ys_buffer(fd, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
  ys_buffer(fd, SO_SNDBUF, sndbuf, "SO_SNDBUF");
  ys_receive_timeout(fd, 100);
  ys_install_signals();

  char *memory = malloc((size_t)batch * BUFFER);
  struct mmsghdr *in = calloc((size_t)batch, sizeof *in);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov);
  struct sockaddr_storage *names = calloc((size_t)batch, sizeof *names);
  typedef union {
    char bytes[CMSG_SPACE(sizeof(int)) * 2];
    struct cmsghdr align;
  } control_t;
  control_t *controls = calloc((size_t)batch, sizeof *controls);
  struct out_queue *q = calloc(1, sizeof *q);
  if (!memory || !in || !iov || !names || !controls || !q) {
    fprintf(stderr, "udp_echo_gro: out of memory\n");
    return 1;
  }

  printf("{\"event\":\"listening\",\"hostname\":\"%s\",\"port\":%d,\"engine\":\"recvmmsg+gro\"}\n",
         host, ys_port_of(fd));
  fflush(stdout);

  double t0 = ys_now(), user0, sys0;
  ys_cpu(&user0, &sys0);
  long drops0 = ys_drops(fd);
  uint64_t datagrams_in = 0, bytes_in = 0, receive_calls = 0, receives = 0, coalesced = 0;
  uint64_t truncated = 0;
  int error = 0;

  while (!ys_stop) {
    for (int i = 0; i < batch; i++) {
      iov[i] = (struct iovec){.iov_base = memory + (size_t)i * BUFFER, .iov_len = BUFFER};
      in[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof names[i],
                                      .msg_iov = &iov[i], .msg_iovlen = 1,
                                      .msg_control = controls[i].bytes,
                                      .msg_controllen = sizeof controls[i].bytes};
    }
    int n = recvmmsg(fd, in, (unsigned)batch, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      fprintf(stderr, "udp_echo_gro: recvmmsg: %s\n", strerror(errno));
      error = 1;
      break;
    }
    receive_calls++;
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &in[i].msg_hdr;
      size_t len = in[i].msg_len, seg = len;
      receives++;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int s;
          memcpy(&s, CMSG_DATA(c), sizeof s);
          if (s > 0) seg = (size_t)s;
        }
      }
      size_t count = seg ? (len + seg - 1) / seg : 1;
      if (count == 0) count = 1; /* an empty datagram */
      datagrams_in += count;
      bytes_in += len;
      if (count > 1) coalesced++;
      if (h->msg_flags & MSG_TRUNC) { /* never echo half a super-packet */
        truncated++;
        continue;
      }
      char *data = iov[i].iov_base;
      size_t chunk = seg * YS_MAX_SEGMENTS;
      if (len == 0) queue(q, data, 0, 0, &names[i], h->msg_namelen);
      for (size_t off = 0; off < len; off += chunk) {
        size_t part = len - off < chunk ? len - off : chunk;
        queue(q, data + off, part, seg, &names[i], h->msg_namelen);
      }
    }
    flush(q);
  }

  double user1, sys1;
  ys_cpu(&user1, &sys1);
  long drops1 = ys_drops(fd);
  printf("{\"event\":\"summary\",\"engine\":\"recvmmsg+gro\",\"seconds\":%.3f,\"datagramsIn\":%llu,"
         "\"datagramsOut\":%llu,\"bytesIn\":%llu,\"bytesOut\":%llu,\"receiveCalls\":%llu,"
         "\"receives\":%llu,\"coalescedReceives\":%llu,\"sendCalls\":%llu,\"trainsOut\":%llu,"
         "\"truncated\":%llu,\"sendErrors\":%llu,\"gsoFallbacks\":%llu,\"kernelDrops\":%ld,"
         "\"userSeconds\":%.3f,\"systemSeconds\":%.3f}\n",
         ys_now() - t0, (unsigned long long)datagrams_in, (unsigned long long)datagrams_out,
         (unsigned long long)bytes_in, (unsigned long long)bytes_out,
         (unsigned long long)receive_calls, (unsigned long long)receives,
         (unsigned long long)coalesced, (unsigned long long)send_calls,
         (unsigned long long)trains_out, (unsigned long long)truncated,
         (unsigned long long)send_errors, (unsigned long long)gso_fallbacks,
         drops0 < 0 || drops1 < 0 ? -1 : drops1 - drops0, user1 - user0, sys1 - sys0);
  fflush(stdout);
  close(fd);
  return error;
}
