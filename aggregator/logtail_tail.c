/* Following log files across rotation and truncation (see logtail_tail.h). */
#include "logtail_tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define LT_BUF_SIZE (LT_READ_CHUNK + LT_LINE_MAX)

static int open_file(struct lt_tail *t, bool from_end)
{
	/* Reading once, a FIFO is opened blocking: open waits for its writer, and reads
	 * for its data, so that end of file means the writer is done. */
	int fd = !strcmp(t->path, "-") ? fcntl(0, F_DUPFD_CLOEXEC, 3)
				       : open(t->path, O_RDONLY | O_CLOEXEC | (t->blocking ? 0 : O_NONBLOCK));
	if (fd < 0)
		return -1;
	/* Following polls (non-blocking); reading once waits for a pipe's writer. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, t->blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	t->fd = fd;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->off = 0;
	t->len = 0;
	t->skipping = false;
	t->lineno = 0;
	t->eof_known = false;
	if (from_end && S_ISREG(st.st_mode)) {
		/* Start after the last complete line; a partial one is finished later. */
		t->off = lseek(fd, 0, SEEK_END);
		if (t->off < 0)
			t->off = 0;
	}
	t->last_errno = 0;
	return 0;
}

int lt_tail_open(struct lt_tail *t, const char *path, bool follow, bool from_start)
{
	memset(t, 0, sizeof *t);
	t->path = path;
	t->fd = -1;
	t->blocking = !follow;
	bool from_end = follow && !from_start, may_be_missing = follow;
	t->buf = malloc(LT_BUF_SIZE);
	if (!t->buf)
		return -1;
	if (open_file(t, from_end) == 0)
		return 0;
	t->last_errno = errno;
	if (may_be_missing && errno == ENOENT)
		return 0;
	return -1;
}

/* Splits buf into lines; keeps the unfinished tail. */
static void emit_lines(struct lt_tail *t, lt_line_fn fn, void *ctx)
{
	size_t start = 0;
	while (start < t->len) {
		char *nl = memchr(t->buf + start, '\n', t->len - start);
		if (!nl)
			break;
		size_t end = (size_t)(nl - t->buf);
		if (t->skipping) {
			t->skipping = false;	/* end of an overlong line, already counted */
		} else {
			size_t n = end - start;
			if (n && t->buf[start + n - 1] == '\r')
				n--;
			t->lines++;
			t->lineno++;
			if (n > LT_LINE_MAX)
				t->overlong++;	/* same limit whether it came in one read or several */
			else
				fn(ctx, t, t->buf + start, n);
		}
		start = end + 1;
	}
	size_t rest = t->len - start;
	if (rest >= LT_LINE_MAX || (t->skipping && rest)) {
		/* No newline within LT_LINE_MAX bytes: drop what we have and the rest
		 * of this line. */
		if (!t->skipping) {
			t->overlong++;
			t->lines++;
			t->lineno++;
		}
		t->skipping = true;
		rest = 0;
		start = t->len;
	}
	if (rest && start)
		memmove(t->buf, t->buf + start, rest);
	t->len = rest;
}

static size_t drain(struct lt_tail *t, lt_line_fn fn, void *ctx)
{
	size_t total = 0;
	for (;;) {
		ssize_t n = read(t->fd, t->buf + t->len, LT_BUF_SIZE - t->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		t->len += (size_t)n;
		t->off += n;
		t->bytes += (uint64_t)n;
		total += (size_t)n;
		emit_lines(t, fn, ctx);
	}
	return total;
}

void lt_tail_flush(struct lt_tail *t, lt_line_fn fn, void *ctx)
{
	if (t->len && !t->skipping) {
		size_t n = t->len;
		if (t->buf[n - 1] == '\r')
			n--;
		t->lines++;
		t->lineno++;
		fn(ctx, t, t->buf, n);
	}
	t->len = 0;
	t->skipping = false;
}

/* Remembers the file's mtime when everything in it has been read, so that a later
 * change that does not make it longer can be recognised as a rewrite. */
static void note_eof(struct lt_tail *t)
{
	struct stat st;
	t->eof_known = false;
	if (fstat(t->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == t->off) {
		t->mtime_at_eof = st.st_mtim;
		t->eof_known = true;
	}
}

static void restart_at_zero(struct lt_tail *t)
{
	t->truncations++;
	lseek(t->fd, 0, SEEK_SET);
	t->off = 0;
	t->len = 0;
	t->skipping = false;
	t->lineno = 0;
	t->eof_known = false;
}

static void end_prev(struct lt_tail *t, lt_line_fn fn, void *ctx)
{
	struct lt_tail *p = t->prev;
	drain(p, fn, ctx);
	lt_tail_flush(p, fn, ctx);
	t->lines += p->lines;
	t->bytes += p->bytes;
	t->overlong += p->overlong;
	lt_tail_close(p);
	free(p);
	t->prev = NULL;
}

size_t lt_tail_poll(struct lt_tail *t, bool follow, lt_line_fn fn, void *ctx)
{
	size_t got = 0;
	if (t->prev) {
		uint64_t before = t->prev->bytes;
		drain(t->prev, fn, ctx);
		got += (size_t)(t->prev->bytes - before);
		if (mono_ns() >= t->prev_until_ns)
			end_prev(t, fn, ctx);
	}
	size_t mine = 0;
	if (t->fd >= 0)
		mine = drain(t, fn, ctx);
	got += mine;
	if (!follow)
		return got;

	struct stat st;
	if (stat(t->path, &st) < 0) {
		/* Renamed away and not re-created yet: keep reading the old file. */
		if (errno != t->last_errno && errno != ENOENT)
			log_warn("%s: %s", t->path, strerror(errno));
		t->last_errno = errno;
		return got;
	}
	if (t->fd < 0 || st.st_ino != t->ino || st.st_dev != t->dev) {
		if (t->fd >= 0) {
			/* Rotated: the old file stays open for the grace period (a
			 * previous one still in grace is finished now). */
			if (t->prev)
				end_prev(t, fn, ctx);
			struct lt_tail *p = malloc(sizeof *p);
			char *nbuf = malloc(LT_BUF_SIZE);
			if (!p || !nbuf) {
				free(p);
				free(nbuf);
				return got;	/* try again at the next poll */
			}
			*p = *t;
			p->prev = NULL;
			p->lines = p->bytes = p->overlong = 0;
			t->buf = nbuf;
			t->prev = p;
			t->prev_until_ns = mono_ns() + LT_ROTATE_GRACE_NS;
			t->fd = -1;
			t->rotations++;
		}
		if (open_file(t, false) < 0) {
			if (errno != t->last_errno) {
				log_warn("%s: cannot open: %s (will retry)", t->path, strerror(errno));
				t->open_errors++;
			}
			t->last_errno = errno;
			return got;
		}
		got += drain(t, fn, ctx);
		note_eof(t);
		return got;
	}
	struct stat fst;
	if (fstat(t->fd, &fst) == 0 && S_ISREG(fst.st_mode)) {
		/* Only when nothing new was read now: the mtime noted at the last end
		 * of file would otherwise be older than the data just read. */
		bool rewritten = mine == 0 && t->eof_known && fst.st_size <= t->off &&
				 (fst.st_mtim.tv_sec != t->mtime_at_eof.tv_sec ||
				  fst.st_mtim.tv_nsec != t->mtime_at_eof.tv_nsec);
		if (fst.st_size < t->off || rewritten) {
			/* Truncated in place: what is in the file now is new. */
			restart_at_zero(t);
			got += drain(t, fn, ctx);
		}
	}
	note_eof(t);
	return got;
}

void lt_tail_close(struct lt_tail *t)
{
	if (t->prev) {
		lt_tail_close(t->prev);
		free(t->prev);
		t->prev = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->buf);
	t->buf = NULL;
}
