/* Files that may hold captured payload bytes or observations are created readable
 * by their owner only, whatever the caller's umask. */
#ifndef INSITU_FILEUTIL_H
#define INSITU_FILEUTIL_H

#include <stdio.h>

/* fopen(path, "w"/"wb") with the file created (or truncated) as mode 0600. */
FILE *fopen_private(const char *path, const char *mode);

#endif
