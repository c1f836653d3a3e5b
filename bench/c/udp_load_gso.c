/*
 * YARDSTICK, NOT PART OF REGIO: a C UDP load client that sends trains of N
 * datagrams as one segmented send (UDP_SEGMENT) and receives with coalescing
 * (UDP_GRO), the client of bench/udp.ts's train rounds when regio's own load
 * generator cannot send trains, and its yardstick when it can. It keeps
 * --window datagrams in flight, sends a train of --gso N whenever N of them
 * have come back (or timed out), and checks every byte of every echo. The
 * datagrams are those of examples/udp_load.ts (seq u32, lane u16, size u16,
 * then byte i = (seq * 7 + i) & 0xff), and the result is its JSON LoadResult.
 * With --gso 1 it sends plain datagrams (sendmmsg). Compiled by the benchmark
 * into a temp dir; Linux 5.0+ only.
 *
 *   udp_load_gso --port P [--host 127.0.0.1] [--size 64] [--window 1024] [--gso 64]
 *                [--duration 3] [--warmup 0] [--timeout-ms 500] [--rcvbuf B] [--sndbuf B] [--json]
 *
 * Exit code 1 when an echo was wrong or nothing came back, 2 for bad flags.
 */
#include "yardstick.h"

static const char USAGE[] =
    "Usage: udp_load_gso --port N [--host IP] [--size N] [--window N] [--gso N] [--duration S]\n"
    "                    [--warmup S] [--timeout-ms N] [--rcvbuf BYTES] [--sndbuf BYTES] [--json]\n"
    "A C UDP load client sending GSO trains of --gso datagrams and receiving with GRO\n"
    "(a benchmark yardstick, not part of regio). Prints examples/udp_load.ts's result.\n";

#define HEADER 8
#define MAX_US 1000000
#define RECV_BATCH 16
#define RECV_BUFFER 65536
#define SEND_BATCH 64 /* trains per sendmmsg */

static uint8_t body(uint32_t seq, size_t i) { return (uint8_t)((seq * 7u + (uint32_t)i) & 0xff); }

static int fd;
static long size = 64, window = 1024, gso = 64;
static double send_end;
static int gso_on; /* cleared when the kernel refuses a segmented send */
static int64_t *lane_seq; /* the seq in flight on each lane, -1 when free */
static double *lane_sent;
static uint32_t *free_lanes;
static long n_free, in_flight;
static uint64_t next_seq, sent, trains;
static char *train_memory;

/* Message room for one sendmmsg: SEND_BATCH trains, or their datagrams one by one after a refusal. */
static struct mmsghdr out[SEND_BATCH * YS_MAX_SEGMENTS];
static struct iovec out_iov[SEND_BATCH * YS_MAX_SEGMENTS];
static union {
  char bytes[CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} out_control[SEND_BATCH];

/* Writes datagram `seq` for `lane` at `d` (examples/udp_load.ts's format). */
static void fill(uint8_t *d, uint32_t seq, uint32_t lane) {
  memcpy(d, &seq, 4); /* little-endian, as x86_64 and aarch64 are */
  d[4] = (uint8_t)(lane & 0xff);
  d[5] = (uint8_t)(lane >> 8);
  d[6] = (uint8_t)(size & 0xff);
  d[7] = (uint8_t)(size >> 8);
  for (long b = HEADER; b < size; b++) d[b] = body(seq, (size_t)b);
}

/* Sends trains of `gso` datagrams while that many lanes are free and the run lasts. */
static void send_trains(double now) {
  while (now < send_end && n_free >= gso) {
    int m = 0, t = 0;
    for (; t < SEND_BATCH && n_free >= gso; t++) {
      char *train = train_memory + (size_t)t * (size_t)(gso * size);
      for (long k = 0; k < gso; k++) {
        uint32_t lane = free_lanes[--n_free];
        uint32_t seq = (uint32_t)next_seq++;
        lane_seq[lane] = seq;
        lane_sent[lane] = now;
        fill((uint8_t *)train + k * size, seq, lane);
      }
      in_flight += gso;
      sent += (uint64_t)gso;
      if (gso_on) {
        out_iov[m] = (struct iovec){.iov_base = train, .iov_len = (size_t)(gso * size)};
        out[m].msg_hdr = (struct msghdr){.msg_iov = &out_iov[m], .msg_iovlen = 1,
                                         .msg_control = out_control[t].bytes,
                                         .msg_controllen = sizeof out_control[t].bytes};
        struct cmsghdr *c = CMSG_FIRSTHDR(&out[m].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        *(uint16_t *)CMSG_DATA(c) = (uint16_t)size;
        m++;
      } else {
        for (long k = 0; k < gso; k++, m++) {
          out_iov[m] = (struct iovec){.iov_base = train + k * size, .iov_len = (size_t)size};
          out[m].msg_hdr = (struct msghdr){.msg_iov = &out_iov[m], .msg_iovlen = 1};
        }
      }
    }
    for (int done = 0; done < m;) {
      int s = sendmmsg(fd, out + done, (unsigned)(m - done), 0);
      if (s < 0) {
        if (errno == EINTR) continue;
        if (gso_on && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
          fprintf(stderr, "udp_load_gso: segmented send refused (%s): per datagram from now on\n",
                  strerror(errno));
          gso_on = 0;
        }
        break; /* what was not sent times out and counts as lost */
      }
      if (gso_on) trains += (uint64_t)s;
      done += s;
    }
  }
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0, json = 0;
  long timeout_ms = 500, rcvbuf = 0, sndbuf = 0;
  double duration = 3, warmup = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define NUM(min, max) ys_number(ys_value(argc, argv, &i, "udp_load_gso", USAGE), a, min, max)
    if (!strcmp(a, "--host")) host = ys_value(argc, argv, &i, "udp_load_gso", USAGE);
    else if (!strcmp(a, "--port")) port = (int)NUM(1, 65535);
    else if (!strcmp(a, "--size")) size = (long)NUM(HEADER, 65507);
    else if (!strcmp(a, "--window")) window = (long)NUM(1, 65535); /* a u16 lane */
    else if (!strcmp(a, "--gso")) gso = (long)NUM(1, YS_MAX_SEGMENTS);
    else if (!strcmp(a, "--duration")) duration = NUM(0.01, 3600);
    else if (!strcmp(a, "--warmup")) warmup = NUM(0, 3600);
    else if (!strcmp(a, "--timeout-ms")) timeout_ms = (long)NUM(1, 600000);
    else if (!strcmp(a, "--rcvbuf")) rcvbuf = (long)NUM(1, 1 << 30);
    else if (!strcmp(a, "--sndbuf")) sndbuf = (long)NUM(1, 1 << 30);
    else if (!strcmp(a, "--json")) json = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) ys_usage_exit("udp_load_gso", USAGE, NULL);
    else {
      char why[256];
      snprintf(why, sizeof why, "unknown argument \"%s\"", a);
      ys_usage_exit("udp_load_gso", USAGE, why);
    }
#undef NUM
  }
  if (!port) ys_usage_exit("udp_load_gso", USAGE, "--port is required");
  if (window < gso) ys_usage_exit("udp_load_gso", USAGE, "--window must be at least --gso");
  if (gso * size > YS_MAX_PAYLOAD) ys_usage_exit("udp_load_gso", USAGE, "--gso × --size > 65507");

  struct sockaddr_storage server;
  socklen_t server_len = ys_address(host, port, &server);
  if (!server_len) ys_usage_exit("udp_load_gso", USAGE, "--host must be a numeric IP address");
  fd = socket(server.ss_family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&server, server_len) != 0) {
    fprintf(stderr, "udp_load_gso: cannot reach %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  int on = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
    fprintf(stderr, "udp_load_gso: setsockopt(UDP_GRO): %s\n", strerror(errno));
    return 1;
  }
  ys_buffer(fd, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
  ys_buffer(fd, SO_SNDBUF, sndbuf, "SO_SNDBUF");
  ys_receive_timeout(fd, 50);

  lane_seq = malloc((size_t)window * sizeof *lane_seq);
  lane_sent = malloc((size_t)window * sizeof *lane_sent);
  free_lanes = malloc((size_t)window * sizeof *free_lanes);
  uint32_t *histogram = calloc(MAX_US + 1, sizeof *histogram);
  train_memory = malloc((size_t)SEND_BATCH * (size_t)(gso * size));
  char *recv_memory = malloc((size_t)RECV_BATCH * RECV_BUFFER);
  if (!lane_seq || !lane_sent || !free_lanes || !histogram || !train_memory || !recv_memory) {
    fprintf(stderr, "udp_load_gso: out of memory\n");
    return 1;
  }
  for (long l = window - 1; l >= 0; l--) {
    lane_seq[l] = -1;
    free_lanes[n_free++] = (uint32_t)l;
  }

  struct mmsghdr in[RECV_BATCH];
  struct iovec in_iov[RECV_BATCH];
  union {
    char bytes[CMSG_SPACE(sizeof(int)) * 2];
    struct cmsghdr align;
  } in_control[RECV_BATCH];

  uint64_t echoed = 0, lost = 0, late = 0, wrong = 0, receives = 0, measured = 0;
  gso_on = gso > 1;
  char first_wrong[160] = "";
  double start = ys_now(), user0, sys0;
  ys_cpu(&user0, &sys0);
  double warm_end = start + warmup;
  send_end = warm_end + duration;
  double measured_from = warmup > 0 ? 0 : start, measured_to = start;
  int measuring = warmup == 0;

  double now0 = ys_now();
  send_trains(now0);

  double last_scan = now0;
  while (in_flight > 0) {
    for (int i = 0; i < RECV_BATCH; i++) {
      in_iov[i] = (struct iovec){.iov_base = recv_memory + (size_t)i * RECV_BUFFER,
                                 .iov_len = RECV_BUFFER};
      in[i].msg_hdr = (struct msghdr){.msg_iov = &in_iov[i], .msg_iovlen = 1,
                                      .msg_control = in_control[i].bytes,
                                      .msg_controllen = sizeof in_control[i].bytes};
    }
    int n = recvmmsg(fd, in, RECV_BATCH, MSG_WAITFORONE, NULL);
    double now = ys_now();
    if (!measuring && now >= warm_end) {
      measuring = 1;
      measured_from = now;
      memset(histogram, 0, (MAX_US + 1) * sizeof *histogram);
    }
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      fprintf(stderr, "udp_load_gso: recvmmsg: %s\n", strerror(errno));
      return 1;
    }
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
      if (h->msg_flags & MSG_TRUNC) {
        wrong++;
        if (!*first_wrong) snprintf(first_wrong, sizeof first_wrong, "a truncated receive");
        continue;
      }
      for (size_t off = 0; off < len || len == 0; off += seg) {
        const uint8_t *d = (const uint8_t *)in_iov[i].iov_base + off;
        size_t dlen = len - off < seg ? len - off : seg;
        if (dlen < HEADER) {
          wrong++;
          if (!*first_wrong) snprintf(first_wrong, sizeof first_wrong, "an echo of %zu bytes", dlen);
          break;
        }
        uint32_t seq;
        memcpy(&seq, d, 4);
        uint32_t lane = (uint32_t)d[4] | ((uint32_t)d[5] << 8);
        int ok = (long)dlen == size && lane < (uint32_t)window &&
                 ((long)d[6] | ((long)d[7] << 8)) == size;
        for (long b = HEADER; ok && b < size; b++) ok = d[b] == body(seq, (size_t)b);
        if (!ok) {
          wrong++;
          if (!*first_wrong)
            snprintf(first_wrong, sizeof first_wrong, "echo of seq %u (%zu bytes): content differs",
                     seq, dlen);
          continue;
        }
        if (lane_seq[lane] != (int64_t)seq) {
          late++; /* already counted lost and replaced */
          continue;
        }
        lane_seq[lane] = -1;
        free_lanes[n_free++] = lane;
        in_flight--;
        echoed++;
        if (measuring && now < send_end) {
          measured++;
          measured_to = now;
          double us = (now - lane_sent[lane]) * 1e6;
          histogram[us >= MAX_US ? MAX_US : (long)(us + 0.5)]++;
        }
      }
    }
    if (now - last_scan >= 0.05) {
      last_scan = now;
      for (long l = 0; l < window; l++) {
        if (lane_seq[l] >= 0 && (now - lane_sent[l]) * 1000 > (double)timeout_ms) {
          lane_seq[l] = -1;
          free_lanes[n_free++] = (uint32_t)l;
          in_flight--;
          lost++;
        }
      }
    }
    send_trains(now);
  }

  double end = ys_now(), user1, sys1;
  ys_cpu(&user1, &sys1);
  double interval = (measured_to <= measured_from ? end : measured_to) - measured_from;
  uint64_t total = 0;
  for (long i = 0; i <= MAX_US; i++) total += histogram[i];
  long p50 = 0, p99 = 0, max_us = 0;
  if (total) {
    uint64_t want50 = (total + 1) / 2, want99 = (uint64_t)((double)total * 0.99 + 0.999999);
    uint64_t seen = 0;
    int got50 = 0;
    for (long i = 0; i <= MAX_US; i++) {
      seen += histogram[i];
      if (!got50 && seen >= want50) {
        p50 = i;
        got50 = 1;
      }
      if (seen >= want99) {
        p99 = i;
        break;
      }
    }
    for (long i = MAX_US; i >= 0; i--) {
      if (histogram[i]) {
        max_us = i;
        break;
      }
    }
  }
  double pps = interval > 0 ? (double)measured / interval : 0;
  double cpu = ((user1 - user0) + (sys1 - sys0)) * 100 / (end - start);
  if (json) {
    printf("{\"sent\":%llu,\"echoed\":%llu,\"lost\":%llu,\"late\":%llu,\"wrong\":%llu,\"pps\":%.0f,"
           "\"bytesPerSecond\":%.0f,\"p50Us\":%ld,\"p99Us\":%ld,\"maxUs\":%ld,\"seconds\":%.3f,"
           "\"cpuPercent\":%.0f,\"firstWrong\":%s%s%s,\"client\":\"c\",\"gso\":%ld,"
           "\"trains\":%llu,\"receives\":%llu}\n",
           (unsigned long long)sent, (unsigned long long)echoed, (unsigned long long)lost,
           (unsigned long long)late, (unsigned long long)wrong, pps, pps * (double)size, p50, p99,
           max_us, end - start, cpu, *first_wrong ? "\"" : "", *first_wrong ? first_wrong : "null",
           *first_wrong ? "\"" : "", gso, (unsigned long long)trains,
           (unsigned long long)receives);
  } else {
    printf("udp_load_gso: %llu/%llu echoed in %.3f s: %.0f pps (%.2f MB/s), lost %llu, late %llu, "
           "wrong %llu; latency p50 %ld µs, p99 %ld µs, max %ld µs; %llu trains of %ld sent, "
           "%llu receives; load client CPU %.0f%%\n",
           (unsigned long long)echoed, (unsigned long long)sent, end - start, pps,
           pps * (double)size / 1e6, (unsigned long long)lost, (unsigned long long)late,
           (unsigned long long)wrong, p50, p99, max_us, (unsigned long long)trains, gso,
           (unsigned long long)receives, cpu);
  }
  if (wrong) {
    fprintf(stderr, "udp_load_gso: %llu wrong echo(es); first: %s\n", (unsigned long long)wrong,
            first_wrong);
    return 1;
  }
  if (!echoed) {
    fprintf(stderr, "udp_load_gso: no echo came back from %s:%d\n", host, port);
    return 1;
  }
  return 0;
}
