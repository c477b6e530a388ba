/* Blocking client of insitud's socket protocol (see insitud_client.h). */
#include "insitud_client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "timeutil.h"

struct insitud_client {
	int fd;
	int timeout_ms;
	char err[512];
	/* bytes received past the last answer line (pipelining is not used, but the
	 * daemon may send a line in several segments) */
	char *buf;
	size_t len, cap;
};

struct insitud_client *insitud_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct insitud_client *c;
	int fd;

	if (!path)
		path = getenv(INSITUD_SOCKET_ENV);
	if (!path || !*path)
		path = INSITUD_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, errlen, "cannot connect to insitud at %s: %s%s", path, strerror(errno),
			 errno == ENOENT || errno == ECONNREFUSED ? " (is insitud running?)" : "");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->timeout_ms = 5000;
	return c;
}

void insitud_close(struct insitud_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

void insitud_set_timeout(struct insitud_client *c, int ms) { c->timeout_ms = ms > 0 ? ms : 5000; }
const char *insitud_error(const struct insitud_client *c) { return c->err; }

static int wait_fd(struct insitud_client *c, short ev, uint64_t deadline)
{
	struct pollfd p = {.fd = c->fd, .events = ev};
	for (;;) {
		uint64_t now = mono_ns();
		int ms = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0) {
			snprintf(c->err, sizeof c->err, "timeout waiting for insitud");
			return -1;
		}
		if (errno != EINTR) {
			snprintf(c->err, sizeof c->err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

static int send_all(struct insitud_client *c, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(c, POLLOUT, deadline))
				return -1;
		} else {
			snprintf(c->err, sizeof c->err, "send to insitud: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Reads one line; returns a pointer into c->buf (NUL-terminated) and its length. */
static char *read_line(struct insitud_client *c, uint64_t deadline, size_t *linelen)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		ssize_t r;

		if (nl) {
			*nl = '\0';
			*linelen = (size_t)(nl - c->buf);
			return c->buf;
		}
		if (c->len + 65536 + 1 > c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 131072;
			char *nb;
			if (ncap > INSITUD_LINE_MAX * 64) {
				snprintf(c->err, sizeof c->err, "answer from insitud too long");
				return NULL;
			}
			nb = realloc(c->buf, ncap);
			if (!nb) {
				snprintf(c->err, sizeof c->err, "out of memory");
				return NULL;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
		if (r > 0) {
			c->len += (size_t)r;
		} else if (r == 0) {
			snprintf(c->err, sizeof c->err, "insitud closed the connection");
			return NULL;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(c, POLLIN, deadline))
				return NULL;
		} else {
			snprintf(c->err, sizeof c->err, "recv from insitud: %s", strerror(errno));
			return NULL;
		}
	}
}

/* Sends one request line (s[0..n), newline included) and parses the answer. */
static cJSON *request_line(struct insitud_client *c, const char *s, size_t n)
{
	uint64_t deadline = mono_ns() + (uint64_t)c->timeout_ms * 1000000ull;
	size_t linelen;
	char *line;
	cJSON *ans;

	c->err[0] = '\0';
	if (send_all(c, s, n, deadline))
		return NULL;
	line = read_line(c, deadline, &linelen);
	if (!line)
		return NULL;
	ans = cJSON_ParseWithLength(line, linelen);
	/* drop the consumed line from the buffer */
	memmove(c->buf, c->buf + linelen + 1, c->len - linelen - 1);
	c->len -= linelen + 1;
	if (!cJSON_IsObject(ans)) {
		cJSON_Delete(ans);
		snprintf(c->err, sizeof c->err, "insitud sent an answer that is not a JSON object");
		return NULL;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(ans, "message");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "error");
		snprintf(c->err, sizeof c->err, "%s%s%s", cJSON_IsString(e) ? e->valuestring : "error",
			 cJSON_IsString(m) ? ": " : "", cJSON_IsString(m) ? m->valuestring : "");
	}
	return ans;
}

cJSON *insitud_request(struct insitud_client *c, const cJSON *req)
{
	char *s = cJSON_PrintUnformatted(req);
	size_t n;
	cJSON *ans;

	if (!s) {
		snprintf(c->err, sizeof c->err, "out of memory");
		return NULL;
	}
	n = strlen(s);
	s[n] = '\n'; /* cJSON allocated n+1 bytes: reuse the NUL slot for the newline */
	ans = request_line(c, s, n + 1);
	free(s);
	return ans;
}

/* Sends req, requires "ok":true; returns the answer (caller deletes) or NULL. */
static cJSON *call_ok(struct insitud_client *c, cJSON *req)
{
	cJSON *ans = insitud_request(c, req);
	cJSON_Delete(req);
	if (ans && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		cJSON_Delete(ans);
		return NULL;
	}
	return ans;
}

int insitud_register(struct insitud_client *c, const char *module, const char *name, uint64_t *handle)
{
	cJSON *req = cJSON_CreateObject(), *ans, *h;

	cJSON_AddStringToObject(req, "op", "register");
	cJSON_AddStringToObject(req, "module", module);
	cJSON_AddStringToObject(req, "name", name);
	ans = call_ok(c, req);
	if (!ans)
		return -1;
	h = cJSON_GetObjectItemCaseSensitive(ans, "handle");
	if (!cJSON_IsNumber(h)) {
		snprintf(c->err, sizeof c->err, "register: answer without a handle");
		cJSON_Delete(ans);
		return -1;
	}
	*handle = (uint64_t)h->valuedouble;
	cJSON_Delete(ans);
	return 0;
}

static cJSON *report_for_submit(const struct insitu_report *r)
{
	cJSON *j = insitu_report_to_json(r);
	if (!r->observer[0])
		cJSON_DeleteItemFromObjectCaseSensitive(j, "observer");
	return j;
}

int insitud_submit(struct insitud_client *c, uint64_t handle, const struct insitu_report *r,
		   enum insitud_submit_result *res)
{
	cJSON *req = cJSON_CreateObject(), *ans, *v;

	cJSON_AddStringToObject(req, "op", "submit");
	cJSON_AddNumberToObject(req, "handle", (double)handle);
	cJSON_AddItemToObject(req, "report", report_for_submit(r));
	ans = call_ok(c, req);
	if (!ans)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(ans, "result");
	if (res)
		*res = cJSON_IsString(v) && !strcmp(v->valuestring, "IGNORED") ? INSITUD_IGNORED
										 : INSITUD_ACCEPTED;
	cJSON_Delete(ans);
	return 0;
}

int insitud_submit_batch(struct insitud_client *c, uint64_t handle, const struct insitu_report *r,
			 size_t n, size_t *accepted)
{
	char *buf = NULL, head[96];
	size_t len = 0, cap = 0;
	cJSON *ans, *v;
	int hl, rc = -1;

	if (n > INSITUD_BATCH_MAX || n == 0) {
		snprintf(c->err, sizeof c->err, "batch of %zu reports: expected 1-%d", n, INSITUD_BATCH_MAX);
		return -1;
	}
	/* written directly, not through a cJSON tree: this is the clients' hot path */
	hl = snprintf(head, sizeof head, "{\"op\":\"submit\",\"handle\":%llu,\"reports\":[",
		      (unsigned long long)handle);
	cap = (size_t)hl + n * 256;
	buf = malloc(cap);
	if (!buf) {
		snprintf(c->err, sizeof c->err, "out of memory");
		return -1;
	}
	memcpy(buf, head, (size_t)hl + 1);
	len = (size_t)hl;
	for (size_t i = 0; i < n; i++) {
		if (i && len + 2 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				snprintf(c->err, sizeof c->err, "out of memory");
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		if (i)
			buf[len++] = ',';
		if (insitu_report_append_json(&r[i], 1, &buf, &len, &cap)) {
			snprintf(c->err, sizeof c->err, "out of memory");
			goto out;
		}
	}
	if (len + 4 > cap) {
		char *nb = realloc(buf, len + 4);
		if (!nb)
			goto out;
		buf = nb;
	}
	memcpy(buf + len, "]}\n", 3);
	len += 3;
	ans = request_line(c, buf, len);
	if (!ans)
		goto out;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		v = cJSON_GetObjectItemCaseSensitive(ans, "accepted");
		if (accepted)
			*accepted = cJSON_IsNumber(v) ? (size_t)v->valuedouble : 0;
		rc = 0;
	}
	cJSON_Delete(ans);
out:
	free(buf);
	return rc;
}
