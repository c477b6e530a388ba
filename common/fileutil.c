#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *fopen_private(const char *path, const char *mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	/* An existing regular file keeps its mode through O_TRUNC: tighten it.  Never
	 * touch anything else: /dev/null or a FIFO given as the output is not ours. */
	struct stat st;
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && (st.st_mode & 077) && fchmod(fd, 0600) < 0)) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, mode);
	if (!f)
		close(fd);
	return f;
}

char *read_file_max(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int err;

	if (!f)
		return NULL;
	/* one byte more than allowed tells "exactly max" from "larger" */
	buf = max < (size_t)-2 ? malloc(max + 2) : NULL;
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	err = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (err || n > max) {
		free(buf);
		errno = err ? err : EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}
