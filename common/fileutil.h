/* Files that may hold captured payload bytes or observations are created readable
 * by their owner only, whatever the caller's umask. */
#ifndef INSITU_FILEUTIL_H
#define INSITU_FILEUTIL_H

#include <stdio.h>

/* fopen(path, "w"/"wb") with a regular file created (or truncated) as mode 0600;
 * devices and FIFOs (/dev/null, /dev/stdout) are opened as they are. */
FILE *fopen_private(const char *path, const char *mode);

/* The whole of a file the operator gave us (semantics, rules, names, thresholds,
 * configuration), at most max bytes, read into a buffer with a NUL after the last
 * byte (free() it).  NULL with errno set on failure: fopen's or fread's error,
 * ENOMEM, or EFBIG when the file holds more than max bytes; callers word the
 * message (EFBIG: "larger than ...").  Bounded so that a wrong path (/dev/zero, a
 * log file) is refused instead of filling memory. */
char *read_file_max(const char *path, size_t max, size_t *len);

#endif
