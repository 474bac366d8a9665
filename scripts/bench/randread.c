/* randread FILE COUNT: COUNT preads of 4 KiB at random 4 KiB-aligned offsets
 * (fixed seed); prints the elapsed seconds. Used by bench_mount.py, which
 * compiles it: a C loop keeps interpreter overhead out of the figure. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 4096) return 1;
  long count = atol(argv[2]);
  unsigned long long blocks = (unsigned long long)st.st_size / 4096, x = 88172645463325252ull;
  static char buf[4096];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < count; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17; /* xorshift64 */
    if (pread(fd, buf, sizeof buf, (off_t)(x % blocks) * 4096) != sizeof buf) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
