#include "fileutil.h"

#include <fcntl.h>
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
