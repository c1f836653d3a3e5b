/*
 * YARDSTICK, NOT PART OF REGIO: a plain C UDP echo server on recvmmsg/sendmmsg,
 * the reference bench/udp.ts measures regio's echo server against. Each batch
 * of datagrams received is sent back to its senders in one sendmmsg, from the
 * same buffers (no copy). Compiled by the benchmark into a temp dir; Linux only.
 *
 *   udp_echo_mmsg [--host 127.0.0.1] [--port 9000] [--batch 64] [--slot-size 2048]
 *                 [--rcvbuf BYTES] [--sndbuf BYTES]
 *
 * Prints {"event":"listening",...} once bound and {"event":"summary",...} after
 * SIGINT/SIGTERM, one JSON object per line, like examples/udp_echo.ts --json.
 */
#include "yardstick.h"

static const char USAGE[] =
    "Usage: udp_echo_mmsg [--host IP] [--port N] [--batch N] [--slot-size N]\n"
    "                     [--rcvbuf BYTES] [--sndbuf BYTES]\n"
    "A C recvmmsg/sendmmsg UDP echo server (a benchmark yardstick, not part of regio).\n"
    "Stops on SIGINT/SIGTERM and prints a JSON summary.\n";

#define MAX_BATCH 1024

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9000, batch = 64, slot = 2048;
  long rcvbuf = 0, sndbuf = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--host")) host = ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE);
    else if (!strcmp(a, "--port"))
      port = (int)ys_number(ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE), a, 0, 65535);
    else if (!strcmp(a, "--batch"))
      batch = (int)ys_number(ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE), a, 1, MAX_BATCH);
    else if (!strcmp(a, "--slot-size"))
      slot = (int)ys_number(ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE), a, 1, 65536);
    else if (!strcmp(a, "--rcvbuf"))
      rcvbuf = (long)ys_number(ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE), a, 1, 1 << 30);
    else if (!strcmp(a, "--sndbuf"))
      sndbuf = (long)ys_number(ys_value(argc, argv, &i, "udp_echo_mmsg", USAGE), a, 1, 1 << 30);
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) ys_usage_exit("udp_echo_mmsg", USAGE, NULL);
    else {
      char why[256];
      snprintf(why, sizeof why, "unknown argument \"%s\"", a);
      ys_usage_exit("udp_echo_mmsg", USAGE, why);
    }
  }

  struct sockaddr_storage local;
  socklen_t local_len = ys_address(host, port, &local);
  if (!local_len) ys_usage_exit("udp_echo_mmsg", USAGE, "--host must be a numeric IP address");
  int fd = socket(local.ss_family, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&local, local_len) != 0) {
    fprintf(stderr, "udp_echo_mmsg: cannot bind %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  ys_buffer(fd, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
  ys_buffer(fd, SO_SNDBUF, sndbuf, "SO_SNDBUF");
  ys_receive_timeout(fd, 100);
  ys_install_signals();

  char *memory = malloc((size_t)batch * (size_t)slot);
  struct mmsghdr *in = calloc((size_t)batch, sizeof *in), *out = calloc((size_t)batch, sizeof *out);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov), *oiov = calloc((size_t)batch, sizeof *oiov);
  struct sockaddr_storage *names = calloc((size_t)batch, sizeof *names);
  if (!memory || !in || !out || !iov || !oiov || !names) {
    fprintf(stderr, "udp_echo_mmsg: out of memory\n");
    return 1;
  }

  printf("{\"event\":\"listening\",\"hostname\":\"%s\",\"port\":%d,\"engine\":\"recvmmsg\"}\n", host,
         ys_port_of(fd));
  fflush(stdout);

  double t0 = ys_now(), user0, sys0;
  ys_cpu(&user0, &sys0);
  long drops0 = ys_drops(fd);
  uint64_t datagrams_in = 0, datagrams_out = 0, bytes_in = 0, bytes_out = 0;
  uint64_t receive_calls = 0, send_calls = 0, truncated = 0, send_errors = 0;
  int error = 0;

  while (!ys_stop) {
    for (int i = 0; i < batch; i++) {
      iov[i].iov_base = memory + (size_t)i * (size_t)slot;
      iov[i].iov_len = (size_t)slot;
      in[i].msg_hdr = (struct msghdr){.msg_name = &names[i],
                                      .msg_namelen = sizeof names[i],
                                      .msg_iov = &iov[i],
                                      .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, in, (unsigned)batch, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      fprintf(stderr, "udp_echo_mmsg: recvmmsg: %s\n", strerror(errno));
      error = 1;
      break;
    }
    receive_calls++;
    int m = 0;
    for (int i = 0; i < n; i++) {
      datagrams_in++;
      bytes_in += in[i].msg_len;
      if (in[i].msg_hdr.msg_flags & MSG_TRUNC) { // never echo half a datagram
        truncated++;
        continue;
      }
      oiov[m] = (struct iovec){.iov_base = iov[i].iov_base, .iov_len = in[i].msg_len};
      out[m].msg_hdr = (struct msghdr){.msg_name = &names[i],
                                       .msg_namelen = in[i].msg_hdr.msg_namelen,
                                       .msg_iov = &oiov[m],
                                       .msg_iovlen = 1};
      m++;
    }
    for (int done = 0; done < m;) {
      int s = sendmmsg(fd, out + done, (unsigned)(m - done), 0);
      send_calls++;
      if (s < 0) {
        if (errno == EINTR) continue;
        send_errors++; // drop the one that failed, go on with the rest
        done++;
        continue;
      }
      for (int k = done; k < done + s; k++) bytes_out += oiov[k].iov_len;
      datagrams_out += (uint64_t)s;
      done += s;
    }
  }

  double user1, sys1;
  ys_cpu(&user1, &sys1);
  long drops1 = ys_drops(fd);
  printf("{\"event\":\"summary\",\"engine\":\"recvmmsg\",\"seconds\":%.3f,\"datagramsIn\":%llu,"
         "\"datagramsOut\":%llu,\"bytesIn\":%llu,\"bytesOut\":%llu,\"receiveCalls\":%llu,"
         "\"sendCalls\":%llu,\"truncated\":%llu,\"sendErrors\":%llu,\"kernelDrops\":%ld,"
         "\"userSeconds\":%.3f,\"systemSeconds\":%.3f}\n",
         ys_now() - t0, (unsigned long long)datagrams_in, (unsigned long long)datagrams_out,
         (unsigned long long)bytes_in, (unsigned long long)bytes_out,
         (unsigned long long)receive_calls, (unsigned long long)send_calls,
         (unsigned long long)truncated, (unsigned long long)send_errors,
         drops0 < 0 || drops1 < 0 ? -1 : drops1 - drops0, user1 - user0, sys1 - sys0);
  fflush(stdout);
  close(fd);
  return error;
}
