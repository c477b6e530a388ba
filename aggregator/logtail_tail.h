/* Reading a log file line by line and following it like `tail -F`:
 *   - rotation by rename (logrotate's default, create mode): when the path names a
 *     new file, the old one is read to its end, then the new one from its start;
 *   - truncation in place (copytruncate, `> file`): when the file shrinks below what
 *     we have read, reading restarts at offset 0;
 *   - a path that does not exist yet (or is between rename and re-create) is retried.
 *   - a file rewritten in place to no more than the length we had read (truncated,
 *     then written again before we looked) is caught by its modification time.
 * Lines are bounded (LT_LINE_MAX); a longer one is counted and skipped, never fatal.
 * Limitation shared with tail -F: a truncation followed by growth past our offset
 * before the next poll cannot be told from appending (poll often: --interval). */
#ifndef INSITU_LOGTAIL_TAIL_H
#define INSITU_LOGTAIL_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define LT_LINE_MAX (16 * 1024)
/* After a rotation the old file is still read for this long: writers such as nginx
 * workers reopen their log a little after the rename (on a signal), and lines they
 * write to the old file meanwhile must not be lost. */
#define LT_ROTATE_GRACE_NS (2 * 1000000000ll)
#define LT_READ_CHUNK (64 * 1024)

struct lt_tail;
typedef void (*lt_line_fn)(void *ctx, struct lt_tail *t, const char *line, size_t len);

struct lt_tail {
	const char *path;
	int fd;			/* -1 while the file is missing */
	dev_t dev;
	ino_t ino;
	off_t off;		/* bytes of the current file consumed into buf */
	char *buf;		/* LT_READ_CHUNK + LT_LINE_MAX bytes */
	size_t len;		/* pending bytes: start of an unfinished line */
	bool skipping;		/* inside an overlong line: drop bytes up to its newline */
	struct timespec mtime_at_eof;	/* file's mtime when we had read all of it */
	bool eof_known;
	struct lt_tail *prev;	/* the file before a rotation, read during the grace period */
	uint64_t prev_until_ns;	/* monotonic deadline of the grace period */
	uint64_t lineno;	/* lines of the current file handed out */
	/* counters */
	uint64_t bytes, lines, overlong, rotations, truncations, open_errors;
	int last_errno;		/* last open error, to warn once per kind */
	bool blocking;		/* read once: pipes block until their writer is done */
};

/* Opens 'path' (kept by pointer; "-" is standard input).  follow: keep reading as
 * it grows (non-blocking; a missing file is waited for), starting at its current end
 * unless from_start.  Without follow the file is read once to its end (pipes and
 * terminals block until their writer closes).  Returns 0, or -1 with errno. */
int lt_tail_open(struct lt_tail *t, const char *path, bool follow, bool from_start);

/* Reads everything available now and calls fn for each complete line.  With
 * 'follow', at end of file checks for rotation/truncation/creation.  Returns the
 * number of bytes read (0: nothing new). */
size_t lt_tail_poll(struct lt_tail *t, bool follow, lt_line_fn fn, void *ctx);

/* Hands out a final line without newline (end of a file read once). */
void lt_tail_flush(struct lt_tail *t, lt_line_fn fn, void *ctx);

void lt_tail_close(struct lt_tail *t);

#endif
