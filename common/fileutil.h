/* Files that may hold captured payload bytes or observations are created readable
 * by their owner only, whatever the caller's umask. */
#ifndef INSITU_FILEUTIL_H
#define INSITU_FILEUTIL_H

#include <stdio.h>

/* fopen(path, "w"/"wb") with a regular file created (or truncated) as mode 0600;
 * devices and FIFOs (/dev/null, /dev/stdout) are opened as they are. */
FILE *fopen_private(const char *path, const char *mode);

#endif
