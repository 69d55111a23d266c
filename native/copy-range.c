/*
 * copy_file_range(2) for ranges, as one synchronous N-API function (src/engine/copy-range.ts
 * loads it, optionally):
 *
 *   copyFileRange(fdIn, offIn, fdOut, offOut, length) -> number
 *
 * Copies `length` bytes from fdIn at offIn to fdOut at offOut inside the kernel (one copy per
 * byte, page cache to page cache, instead of a read into a buffer and a write out of it), looping
 * on short copies. Returns the bytes copied:
 *   - `length`: all of it;
 *   - fewer: the input ended (the caller handles the rest as a short read), or the kernel stopped
 *     copying these files part way (the caller copies the rest itself);
 *   - -1: nothing copied, and the kernel does not copy between these files (EXDEV, ENOSYS,
 *     EINVAL, EOPNOTSUPP, ...): the caller falls back to reading and writing.
 * Any other error (EIO, ENOSPC, EFBIG, ...) is thrown as an Error with `code` and `errno` set.
 * Offsets are explicit: neither file position moves.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Errnos that mean "this kernel / these files cannot do it": fall back, not fail. */
static int is_fallback_errno(int e) {
  /* EBADF: an output opened for appending; a closed fd fails again in the caller's own read */
  return e == EXDEV || e == ENOSYS || e == EINVAL || e == EOPNOTSUPP || e == ENOTSUP ||
         e == EPERM || e == ETXTBSY || e == EBADF;
}

static const char *errno_code(int e) {
  switch (e) {
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EFBIG: return "EFBIG";
    case EISDIR: return "EISDIR";
    case ENOMEM: return "ENOMEM";
    case EOVERFLOW: return "EOVERFLOW";
    case EDQUOT: return "EDQUOT";
    default: return "ERR_COPY_FILE_RANGE";
  }
}

static napi_value throw_errno(napi_env env, int e) {
  napi_value msg, code, err, num;
  char text[160];
  snprintf(text, sizeof text, "copy_file_range: %s", strerror(e));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &err);
  napi_create_int32(env, -e, &num);
  napi_set_named_property(env, err, "errno", num);
  napi_set_named_property(env, err, "syscall",
                          (napi_create_string_utf8(env, "copy_file_range", NAPI_AUTO_LENGTH, &num), num));
  napi_throw(env, err);
  return NULL;
}

/* A non-negative integer argument (numbers up to 2^53). */
static int get_int(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

static napi_value copy_file_range_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int64_t a[5];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "copyFileRange(fdIn, offIn, fdOut, offOut, length)");
    return NULL;
  }
  for (int i = 0; i < 5; i++) {
    if (!get_int(env, argv[i], &a[i]) || ((i == 0 || i == 2) && a[i] > INT32_MAX)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                            "copyFileRange: arguments are non-negative integers (fds, offsets, length)");
      return NULL;
    }
  }
  loff_t in_off = (loff_t)a[1];
  loff_t out_off = (loff_t)a[3];
  int64_t left = a[4];
  int64_t done = 0;
  while (left > 0) {
    /* at most 1 GiB per call: the kernel caps a call near 2 GiB anyway */
    size_t n = left > (1 << 30) ? (size_t)1 << 30 : (size_t)left;
    ssize_t r = syscall(SYS_copy_file_range, (int)a[0], &in_off, (int)a[2], &out_off, n, 0u);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (is_fallback_errno(e)) {
        napi_create_double(env, done == 0 ? -1.0 : (double)done, &result);
        return result;
      }
      return throw_errno(env, e);
    }
    if (r == 0) break; /* end of the input */
    done += r;
    left -= r;
  }
  napi_create_double(env, (double)done, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "copyFileRange", NAPI_AUTO_LENGTH, copy_file_range_js, NULL, &fn) != napi_ok)
    return NULL;
  napi_set_named_property(env, exports, "copyFileRange", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
