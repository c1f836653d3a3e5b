/*
 * YARDSTICK, NOT PART OF REGIO. The C reference programs of bench/udp.ts share
 * this header: flag parsing, addresses, clocks, CPU time and the stop signal.
 * They are compiled by the benchmark into a temporary directory when a C
 * compiler is present; nothing in the library uses them. Linux only.
 */
#ifndef REGIO_YARDSTICK_H
#define REGIO_YARDSTICK_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* The most a GSO send may carry: UDP_MAX_SEGMENTS on every kernel since 4.18 (later ones allow 128). */
#define YS_MAX_SEGMENTS 64
/* The largest UDP payload over IPv4, also the most one send (or one coalesced receive) holds. */
#define YS_MAX_PAYLOAD 65507

static volatile sig_atomic_t ys_stop;

static inline void ys_on_signal(int sig) {
  (void)sig;
  ys_stop = 1;
}

/* SIGINT and SIGTERM set ys_stop; no SA_RESTART, so a blocked call returns EINTR. */
static inline void ys_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = ys_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static inline double ys_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and system CPU seconds of this process. */
static inline void ys_cpu(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline void ys_usage_exit(const char *prog, const char *usage, const char *why) {
  if (why) fprintf(stderr, "%s: %s\n\n", prog, why);
  fprintf(stderr, "%s", usage);
  exit(why ? 2 : 0);
}

/* The value of flag argv[*i] (consumes it), or a usage error. */
static inline const char *ys_value(int argc, char **argv, int *i, const char *prog, const char *usage) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n\n%s", prog, argv[*i], usage);
    exit(2);
  }
  return argv[++*i];
}

static inline double ys_number(const char *text, const char *flag, double min, double max) {
  char *end;
  double v = strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !(v >= min && v <= max)) {
    fprintf(stderr, "%s must be a number in [%g, %g], got \"%s\"\n", flag, min, max, text);
    exit(2);
  }
  return v;
}

/* Fills `sa` from a numeric IPv4 or IPv6 address; returns its length, 0 when not numeric. */
static inline socklen_t ys_address(const char *host, int port, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof *v6;
  }
  return 0;
}

static inline int ys_port_of(int fd) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) return -1;
  if (sa.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&sa)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
}

/* Sets a buffer size option when asked (0: keep the OS default). */
static inline void ys_buffer(int fd, int option, long bytes, const char *name) {
  if (bytes <= 0) return;
  int v = (int)bytes;
  if (setsockopt(fd, SOL_SOCKET, option, &v, sizeof v) != 0) {
    fprintf(stderr, "setsockopt(%s): %s\n", name, strerror(errno));
  }
}

/* Wakes a blocked receive every 100 ms, so a stop signal that lands just before it is seen. */
static inline void ys_receive_timeout(int fd, int ms) {
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Datagrams the kernel dropped at this socket (SO_MEMINFO's SK_MEMINFO_DROPS); -1 when unknown. */
static inline long ys_drops(int fd) {
  uint32_t info[16];
  socklen_t len = sizeof info;
  memset(info, 0, sizeof info);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0 || len < 9 * sizeof(uint32_t)) {
    return -1;
  }
  return (long)info[8];
}

#endif
