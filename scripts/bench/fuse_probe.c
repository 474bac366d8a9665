/* fuse_probe: the smallest low-level libfuse server of one file, "f", for experiments on how
 * the kernel caches and requests FUSE reads independently of tpkgfs (scripts/probe_fuse.sh).
 *
 *   fuse_probe -f MOUNTPOINT [-o max_read=N]
 *
 * "f" is 64 MiB of 'x' from memory, or the contents of $FILE (read with pread, or served
 * straight from a read-only mapping of it with MMAP=1). Each setting the server can choose is
 * an environment variable:
 *   WB=1     ask for the writeback cache            MAXW=N  max_write in the INIT reply
 *   MAXR=N   max_read in the INIT reply (must match -o max_read=N, libfuse checks)
 *   SPLICE=1 keep libfuse's splice capabilities     DIO=1   open files with direct_io
 *   CLONE=1  one /dev/fuse descriptor per worker thread (clone_fd)
 * The INIT values before and after the server's changes go to stderr. */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t file_size = 64u << 20;
static const char* memory; /* the bytes of "f" when served from memory or a mapping */
static int backing = -1;   /* $FILE without MMAP=1 */

static int env_int(const char* name) {
  const char* value = getenv(name);
  return value ? atoi(value) : 0;
}

static void print_conn(const char* when, const struct fuse_conn_info* c) {
  fprintf(stderr, "%s: capable=%#x want=%#x max_write=%u max_read=%u max_readahead=%u\n", when,
          c->capable, c->want, c->max_write, c->max_read, c->max_readahead);
}

static void init(void* userdata, struct fuse_conn_info* c) {
  (void)userdata;
  print_conn("offered", c);
  if (env_int("WB"))
    c->want |= FUSE_CAP_WRITEBACK_CACHE;
  else
    c->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (!env_int("SPLICE"))
    c->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  if (env_int("MAXW")) c->max_write = env_int("MAXW");
  if (env_int("MAXR")) c->max_read = env_int("MAXR");
  print_conn("replied", c);
}

static void fill_stat(struct stat* st, fuse_ino_t ino) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = (off_t)file_size;
  }
}

static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != FUSE_ROOT_ID || strcmp(name, "f") != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.ino = 2;
  e.attr_timeout = e.entry_timeout = 86400;
  fill_stat(&e.attr, e.ino);
  fuse_reply_entry(req, &e);
}

static void getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  struct stat st;
  fill_stat(&st, ino);
  fuse_reply_attr(req, &st, 86400);
}

static void open_file(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)ino;
  fi->keep_cache = 1;
  fi->direct_io = env_int("DIO") ? 1 : 0;
  fuse_reply_open(req, fi);
}

static void read_file(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info* fi) {
  (void)ino;
  (void)fi;
  if ((size_t)off >= file_size) size = 0;
  else if (off + size > file_size) size = file_size - (size_t)off;
  if (memory) {
    fuse_reply_buf(req, memory + off, size);
    return;
  }
  char* buffer = malloc(size ? size : 1);
  const ssize_t got = buffer ? pread(backing, buffer, size, off) : -1;
  if (got < 0) fuse_reply_err(req, EIO);
  else fuse_reply_buf(req, buffer, (size_t)got);
  free(buffer);
}

static int open_contents(void) {
  const char* path = getenv("FILE");
  if (!path) {
    char* bytes = malloc(file_size);
    if (!bytes) return -1;
    memset(bytes, 'x', file_size);
    memory = bytes;
    return 0;
  }
  struct stat st;
  backing = open(path, O_RDONLY | O_CLOEXEC);
  if (backing < 0 || fstat(backing, &st) != 0) return -1;
  file_size = (size_t)st.st_size;
  if (!env_int("MMAP")) return 0;
  void* map = mmap(NULL, file_size, PROT_READ, MAP_SHARED, backing, 0);
  if (map == MAP_FAILED) return -1;
  madvise(map, file_size, MADV_SEQUENTIAL);
  memory = map;
  return 0;
}

int main(int argc, char** argv) {
  if (open_contents() != 0) {
    perror("fuse_probe: cannot read $FILE");
    return 1;
  }
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  struct fuse_cmdline_opts opts;
  if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) return 1;
  const struct fuse_lowlevel_ops ops = {
      .init = init, .lookup = lookup, .getattr = getattr, .open = open_file, .read = read_file};
  struct fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_session_mount(se, opts.mountpoint) != 0) return 1;
  fuse_daemonize(opts.foreground);
  struct fuse_loop_config config = {.clone_fd = env_int("CLONE"), .max_idle_threads = 10};
  const int rc = fuse_session_loop_mt(se, &config);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}
