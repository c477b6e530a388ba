/* Unix-socket server of insitud (see api.h). */
#include "api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "insitud.h"
#include "insitud_client.h"
#include "log.h"
#include "requests.h"
#include "utf8.h"

struct deferred {
	char *text;
	char *id;
	int is_write;
};

struct client {
	struct ev_handler h;
	struct api *api;
	int fd;
	uint32_t ev;          /* events registered in epoll */
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outoff, outlen, outcap;
	struct deferred *def; /* answers waiting for the commit */
	size_t ndef, capdef;
	struct client *next_def; /* in api->with_def */
	int on_def_list;
	int dead;
	int may_write; /* from SO_PEERCRED at accept (see WriteGroup) */
	uid_t uid;     /* SO_PEERCRED at accept (ClientsPerUser) */
	/* ClientRequestRate: a token bucket; an empty one pauses the client's input
	 * (its requests wait, nothing is refused) until api_tick refills it */
	double tokens;
	uint64_t tokens_ms;
	int throttled;
	uint64_t connected_ms;
	int sent_request; /* a complete request line arrived (ClientIdleTimeout) */
	int backlog;   /* complete requests wait in 'in' (per-pass limit, backpressure) */
	int eof;       /* the client shut down its side: answer what it sent, then close */
	int on_backlog;
	size_t defbytes; /* bytes of deferred answers */
	uint64_t last_progress_ms; /* last time answers were written or none were pending */
	/* after a too-long line: the error was sent and our side shut down; what the
	 * client still sends is read and discarded until it closes, so that the error
	 * is not destroyed by a reset */
	int discarding;
	size_t discarded;
	struct client *prev, *next;
};

struct api {
	struct ev_handler h;
	struct insitud *d;
	int fd;
	char path[108];
	struct client *clients;
	unsigned nclients;
	struct client *with_def;
	struct client *graveyard; /* closed during a pass, freed at its end */
	uint64_t accepted, refused_full, dropped_too_long, dropped_slow, dropped_io, lines, backlogged;
	uint64_t refused_user, refused_nofd, accept_errors, dropped_idle, throttled, invalid_utf8, dropped_memory;
	size_t inbytes; /* input buffers of all live clients (ClientMemoryMax) */
	/* out of descriptors: a spare one is given up to accept-and-close the waiting
	 * clients (refused at once, not left hanging); the listener leaves epoll while
	 * even that fails, so the loop does not spin on a readable listening socket */
	int spare_fd;
	int listener_paused;
	uint64_t resume_ms, accept_warned_ms;
	/* WriteGroup members, resolved once at start: no NSS lookup (which can block on
	 * a network directory) ever runs in the event loop */
	uid_t *write_uids;
	unsigned nwrite_uids;
	struct client **backlog;  /* clients with requests waiting */
	unsigned nbacklog, capbacklog;
	int have_write_gid;
	gid_t write_gid;
};

/* May this client change state?  Without WriteGroup: whoever can connect (the socket's
 * mode and group decide).  With it: root, insitud's own user, and members of the group
 * (primary group from SO_PEERCRED, or the group's member list read at start). */
static int cred_may_write(const struct api *a, const struct ucred *cr)
{
	if (!a->d->cfg.write_group[0])
		return 1;
	if (cr->uid == 0 || cr->uid == geteuid())
		return 1;
	if (!a->have_write_gid)
		return 0;
	if (cr->gid == a->write_gid)
		return 1;
	for (unsigned i = 0; i < a->nwrite_uids; i++)
		if (a->write_uids[i] == cr->uid)
			return 1;
	return 0;
}

/* The WriteGroup's members (supplementary membership) as uids.  Membership changes
 * take effect when insitud restarts. */
static void resolve_write_members(struct api *a, const struct group *g)
{
	size_t n = 0;
	while (g->gr_mem && g->gr_mem[n])
		n++;
	a->write_uids = n ? calloc(n, sizeof *a->write_uids) : NULL;
	for (size_t i = 0; a->write_uids && i < n; i++) {
		struct passwd *pw = getpwnam(g->gr_mem[i]);
		if (pw)
			a->write_uids[a->nwrite_uids++] = pw->pw_uid;
	}
}

static void client_event(struct ev_handler *h, uint32_t events);

static size_t pending_out(const struct client *c) { return c->outlen - c->outoff + c->defbytes; }

static void set_events(struct client *c)
{
	struct api *a = c->api;
	uint32_t ev = 0;
	struct epoll_event e;

	/* read more only when what was read is handled and answers are being taken */
	if (!c->backlog && !c->throttled && !c->eof && pending_out(c) < API_OUT_PAUSE)
		ev |= EPOLLIN;
	if (c->outlen - c->outoff)
		ev |= EPOLLOUT;
	if (ev == c->ev)
		return;
	e.events = ev;
	e.data.ptr = &c->h;
	epoll_ctl(a->d->epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->ev = ev;
}

static void client_close(struct client *c)
{
	struct api *a = c->api;
	if (c->dead)
		return;
	c->dead = 1;
	a->inbytes -= c->incap;
	epoll_ctl(a->d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nclients--;
	/* freed at the end of the pass: deferred answers may still point at it */
	c->next = a->graveyard;
	a->graveyard = c;
}

static void client_free(struct client *c)
{
	for (size_t i = 0; i < c->ndef; i++) {
		free(c->def[i].text);
		free(c->def[i].id);
	}
	free(c->def);
	free(c->in);
	free(c->out);
	free(c);
}

static int out_append(struct client *c, const char *s, size_t n)
{
	if (c->outoff && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + n + 1 > c->outcap) {
		size_t ncap = c->outcap ? c->outcap : 4096;
		char *nb;
		if (c->outoff) { /* compact first */
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
		}
		while (ncap < c->outlen + n + 1)
			ncap *= 2;
		if (ncap != c->outcap) {
			nb = realloc(c->out, ncap);
			if (!nb)
				return -1;
			c->out = nb;
			c->outcap = ncap;
		}
	}
	memcpy(c->out + c->outlen, s, n);
	c->out[c->outlen + n] = '\n';
	c->outlen += n + 1;
	return 0;
}

static void flush_out(struct client *c)
{
	while (!c->dead && c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->outoff += (size_t)w;
			c->last_progress_ms = now_ms();
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else {
			c->api->dropped_io++;
			client_close(c);
			return;
		}
	}
	if (c->dead)
		return;
	if (c->outlen - c->outoff > API_OUT_MAX) {
		log_warn("client fd %d: %zu bytes of answers unread: dropped", c->fd, c->outlen - c->outoff);
		c->api->dropped_slow++;
		client_close(c);
		return;
	}
	if (c->eof && !c->backlog && !c->throttled && !c->ndef && c->outoff == c->outlen) {
		client_close(c); /* everything it asked is answered */
		return;
	}
	set_events(c);
}

static void answer(struct client *c, struct answer *ans)
{
	struct api *a = c->api;

	if (!persist_in_txn(&a->d->db) && !c->ndef) {
		out_append(c, ans->text, strlen(ans->text));
		free(ans->text);
		free(ans->id);
		return;
	}
	/* a transaction is open: this answer (even a read's, which may show uncommitted
	 * data, and which must stay in order) waits for the commit */
	if (c->ndef == c->capdef) {
		size_t ncap = c->capdef ? c->capdef * 2 : 16;
		struct deferred *n = realloc(c->def, ncap * sizeof *n);
		if (!n) {
			free(ans->text);
			free(ans->id);
			return;
		}
		c->def = n;
		c->capdef = ncap;
	}
	c->def[c->ndef++] = (struct deferred){ans->text, ans->id, ans->is_write};
	c->defbytes += strlen(ans->text) + 1;
	if (!c->on_def_list) {
		c->on_def_list = 1;
		c->next_def = a->with_def;
		a->with_def = c;
	}
}

static void backlog_add(struct client *c)
{
	struct api *a = c->api;
	if (c->on_backlog)
		return;
	if (a->nbacklog == a->capbacklog) {
		unsigned ncap = a->capbacklog ? a->capbacklog * 2 : 16;
		struct client **n = realloc(a->backlog, ncap * sizeof *n);
		if (!n)
			return; /* the client is dropped as stalled if never served */
		a->backlog = n;
		a->capbacklog = ncap;
	}
	a->backlog[a->nbacklog++] = c;
	c->on_backlog = 1;
}

static void process_lines(struct client *c)
{
	struct api *a = c->api;
	size_t start = 0;
	unsigned handled = 0;
	int was_throttled = c->throttled; /* still paused since api_tick: not a new pause */

	c->backlog = 0;
	c->throttled = 0;
	if (a->d->cfg.client_rate) {
		uint64_t now = now_ms();
		c->tokens += (double)a->d->cfg.client_rate * (double)(now - c->tokens_ms) / 1000.0;
		if (c->tokens > a->d->cfg.client_rate) /* a burst of at most one second's worth */
			c->tokens = a->d->cfg.client_rate;
		c->tokens_ms = now;
	}
	for (;;) {
		char *nl = memchr(c->in + start, '\n', c->inlen - start);
		struct answer ans;
		size_t len;

		if (!nl)
			break;
		if (handled >= API_LINES_PER_PASS || pending_out(c) >= API_OUT_PAUSE) {
			c->backlog = 1; /* the rest waits: next pass, or until answers are read */
			break;
		}
		if (a->d->cfg.client_rate && c->tokens < 1) {
			/* over its request rate: the rest waits for api_tick's refill */
			if (!was_throttled)
				a->throttled++; /* pauses, not ticks spent paused */
			c->throttled = 1;
			break;
		}
		len = (size_t)(nl - (c->in + start));
		if (len && c->in[start + len - 1] == '\r')
			len--;
		c->sent_request = 1;
		/* every answer must be valid UTF-8 (JSON), and what is stored comes back in
		 * answers: bytes outside UTF-8 become '?' before the request is parsed (not
		 * a refusal: one odd process name must not cost a whole batch of reports) */
		if (len && utf8_sanitize(c->in + start, len))
			a->invalid_utf8++;
		if (len) {
			a->lines++;
			c->tokens--;
			requests_handle(a->d, c->in + start, len, c->may_write, &ans);
			answer(c, &ans);
			handled++;
		}
		start = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (c->backlog) {
		a->backlogged++;
		backlog_add(c);
	} else if (c->inlen >= INSITUD_LINE_MAX) {
		char *e = requests_error(NULL, "too_long", "request line longer than 1 MiB: connection closed");
		a->dropped_too_long++;
		if (e) {
			out_append(c, e, strlen(e));
			free(e);
		}
		flush_out(c);
		if (!c->dead) {
			shutdown(c->fd, SHUT_WR);
			c->discarding = 1;
			c->inlen = 0;
		}
	}
	if (!c->dead)
		set_events(c);
}

static void client_event(struct ev_handler *h, uint32_t events)
{
	struct client *c = (struct client *)h;
	struct api *a = c->api;

	if (c->dead)
		return;
	if (c->discarding) {
		char sink[65536];
		ssize_t r = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
		if (r > 0)
			c->discarded += (size_t)r;
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || c->discarded > (64u << 20) ||
		    (events & (EPOLLHUP | EPOLLERR)))
			client_close(c);
		return;
	}
	if ((events & EPOLLIN) && !c->backlog && !c->throttled && !c->eof) {
		if (c->incap - c->inlen < 65536) {
			size_t ncap = c->incap ? c->incap * 2 : 65536;
			char *nb;
			if (ncap > INSITUD_LINE_MAX + 262144)
				ncap = INSITUD_LINE_MAX + 262144;
			/* all clients' input buffers together are bounded too
			 * (ClientMemoryMax): the biggest hoarder goes, not whoever comes next */
			while (ncap > c->incap && a->inbytes - c->incap + ncap > a->d->cfg.client_memory_max) {
				struct client *big = c;
				for (struct client *o = a->clients; o; o = o->next)
					if (o->incap > big->incap)
						big = o;
				log_warn("client fd %d holds %zu bytes of input and all clients' would pass %zu: dropped",
					 big->fd, big->incap, a->d->cfg.client_memory_max);
				a->dropped_memory++;
				client_close(big);
				if (big == c)
					return;
			}
			nb = ncap > c->incap ? realloc(c->in, ncap) : c->in;
			if (!nb) {
				client_close(c);
				return;
			}
			a->inbytes += ncap - c->incap;
			c->in = nb;
			c->incap = ncap;
		}
		ssize_t r = c->incap > c->inlen ? recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT) : -1;
		if (r < 0 && c->incap == c->inlen)
			errno = EAGAIN;
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(c);
			return;
		}
		if (r == 0) {
			/* half-closed: a last line without a newline is still a request */
			c->eof = 1;
			if (c->inlen && c->inlen < c->incap)
				c->in[c->inlen++] = '\n';
			process_lines(c);
			if (!c->dead)
				flush_out(c);
			return;
		}
		if (r > 0) {
			c->inlen += (size_t)r;
			process_lines(c);
		}
	} else if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
		client_close(c);
		return;
	}
	if (!c->dead && (events & EPOLLOUT))
		flush_out(c);
}

static void listener_pause(struct api *a, int pause)
{
	struct epoll_event e = {.events = pause ? 0 : EPOLLIN, .data.ptr = &a->h};
	if (a->listener_paused == pause)
		return;
	epoll_ctl(a->d->epfd, EPOLL_CTL_MOD, a->fd, &e);
	a->listener_paused = pause;
}

/* accept() failed for want of descriptors or memory.  Left alone, the listening
 * socket stays readable and the loop spins; the clients wait in the backlog with no
 * answer.  Instead: give up the spare descriptor, accept-and-close every waiting
 * client (each sees its connection closed at once), take the spare back; if even
 * that fails, leave the listener out of epoll for a while (api_tick resumes it). */
static void accept_exhausted(struct api *a, int err)
{
	uint64_t now = now_ms();
	int fd;

	a->accept_errors++;
	if (!a->accept_warned_ms || now - a->accept_warned_ms > 60000) {
		log_warn("accepting a client: %s: new clients are refused until descriptors free up "
			 "(clients_accept_errors in stats; raise LimitNOFILE)", strerror(err));
		a->accept_warned_ms = now;
	}
	if (a->spare_fd >= 0) {
		close(a->spare_fd);
		a->spare_fd = -1;
		while ((fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			a->refused_nofd++;
			close(fd);
		}
		err = errno;
		a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (err == EAGAIN || err == EWOULDBLOCK)
			return; /* the backlog is empty: nothing left to spin on */
	}
	listener_pause(a, 1);
	a->resume_ms = now + 100;
}

/* A uid's clients now (ClientsPerUser).  A scan is enough: at most API_CLIENTS_MAX
 * clients, once per accepted connection. */
static unsigned clients_of_uid(const struct api *a, uid_t uid)
{
	unsigned n = 0;
	for (const struct client *c = a->clients; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static void accept_event(struct ev_handler *h, uint32_t events)
{
	struct api *a = (struct api *)h;
	unsigned per_user = a->d->cfg.clients_per_user;

	(void)events;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;
		struct epoll_event e;
		struct ucred cr = {.uid = (uid_t)-1, .gid = (gid_t)-1};
		socklen_t cl = sizeof cr;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_exhausted(a, errno);
			else if (errno == ECONNABORTED || errno == EINTR)
				continue;
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				a->accept_errors++;
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl))
			cr.uid = (uid_t)-1; /* unknown: shares one slot quota, may not write */
		if (a->nclients >= API_CLIENTS_MAX) {
			a->refused_full++;
			close(fd);
			continue;
		}
		/* root is exempt: the observers run as root, and root could not be stopped */
		if (per_user && cr.uid != 0 && clients_of_uid(a, cr.uid) >= per_user) {
			a->refused_user++;
			close(fd);
			continue;
		}
		if (!(c = calloc(1, sizeof *c))) {
			a->refused_full++;
			close(fd);
			continue;
		}
		c->h.fn = client_event;
		c->api = a;
		c->fd = fd;
		c->uid = cr.uid;
		c->may_write = cr.uid != (uid_t)-1 && cred_may_write(a, &cr);
		c->last_progress_ms = c->connected_ms = c->tokens_ms = now_ms();
		c->tokens = a->d->cfg.client_rate;
		c->ev = EPOLLIN;
		e.events = EPOLLIN;
		e.data.ptr = &c->h;
		if (epoll_ctl(a->d->epfd, EPOLL_CTL_ADD, fd, &e)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = a->clients;
		if (a->clients)
			a->clients->prev = c;
		a->clients = c;
		a->nclients++;
		a->accepted++;
	}
}

int api_run_backlog(struct api *a)
{
	unsigned n = a->nbacklog, w = 0;

	for (unsigned i = 0; i < n; i++) {
		struct client *c = a->backlog[i];
		if (c->dead || !c->backlog) {
			c->on_backlog = 0;
		} else if (pending_out(c) < API_OUT_PAUSE) {
			c->on_backlog = 0;
			process_lines(c); /* re-appends itself (after n) if work remains */
		} else {
			a->backlog[w++] = c; /* paused until it reads its answers */
		}
	}
	if (!n)
		return 0;
	memmove(a->backlog + w, a->backlog + n, (a->nbacklog - n) * sizeof *a->backlog);
	a->nbacklog = w + (a->nbacklog - n);
	for (unsigned i = 0; i < a->nbacklog; i++)
		if (!a->backlog[i]->dead && pending_out(a->backlog[i]) < API_OUT_PAUSE)
			return 1;
	return 0;
}

void api_tick(struct api *a, uint64_t now)
{
	struct client *c, *next;
	unsigned idle = a->d->cfg.client_idle_ms;

	if (a->listener_paused && now >= a->resume_ms)
		listener_pause(a, 0); /* accept_exhausted pauses it again if still out of fds */
	for (c = a->clients; c; c = next) {
		next = c->next;
		if (c->throttled && !c->on_backlog) { /* process_lines refills its tokens */
			c->backlog = 1;
			backlog_add(c);
		}
		if (idle && !c->sent_request && now - c->connected_ms > idle) {
			log_debug("client fd %d sent no request in %u ms: closed", c->fd, idle);
			a->dropped_idle++;
			client_close(c);
			continue;
		}
		if (c->outoff == c->outlen) {
			c->last_progress_ms = now;
		} else if (now - c->last_progress_ms > API_STALL_MS) {
			log_warn("client fd %d reads none of its answers (%zu bytes pending): dropped", c->fd,
				 c->outlen - c->outoff);
			a->dropped_slow++;
			client_close(c);
		}
	}
}

void api_end_pass(struct api *a, int committed, const char *storage_msg)
{
	struct client *c, *next;

	for (c = a->with_def; c; c = next) {
		next = c->next_def;
		c->on_def_list = 0;
		for (size_t i = 0; i < c->ndef; i++) {
			struct deferred *df = &c->def[i];
			if (!c->dead) {
				/* a failed commit withdraws every answer of the pass: writes were
				 * not stored, and reads may have shown what was rolled back */
				if (!committed) {
					char *e = requests_storage_error(df->id, storage_msg);
					if (e)
						out_append(c, e, strlen(e));
					free(e);
				} else {
					out_append(c, df->text, strlen(df->text));
				}
			}
			free(df->text);
			free(df->id);
		}
		c->ndef = 0;
		c->defbytes = 0;
	}
	a->with_def = NULL;
	for (c = a->clients; c; c = next) {
		next = c->next;
		if (c->outoff < c->outlen)
			flush_out(c);
	}
	if (a->graveyard) { /* no dead client stays on the backlog */
		unsigned w = 0;
		for (unsigned i = 0; i < a->nbacklog; i++)
			if (!a->backlog[i]->dead)
				a->backlog[w++] = a->backlog[i];
		a->nbacklog = w;
	}
	while ((c = a->graveyard)) {
		a->graveyard = c->next;
		client_free(c);
	}
}

struct api *api_new(struct insitud *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct api *a = calloc(1, sizeof *a);
	struct epoll_event e;
	char dir[108], *slash;
	mode_t old;

	if (!a)
		return NULL;
	a->d = d;
	a->h.fn = accept_event;
	snprintf(a->path, sizeof a->path, "%s", d->cfg.socket);
	snprintf(dir, sizeof dir, "%s", a->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			log_warn("creating %s: %s", dir, strerror(errno));
	}
	strcpy(sa.sun_path, a->path);
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		log_error("socket: %s", strerror(errno));
		free(a);
		return NULL;
	}
	/* a socket file left by a crashed insitud: replace it, but never steal a live one */
	if (connect(a->fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		log_error("%s: another insitud is already listening there", a->path);
		close(a->fd);
		free(a);
		return NULL;
	}
	close(a->fd);
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(a->path);
	old = umask(0177); /* no window where the socket is world-accessible */
	if (bind(a->fd, (struct sockaddr *)&sa, sizeof sa) || listen(a->fd, 256)) {
		umask(old);
		log_error("%s: %s", a->path, strerror(errno));
		close(a->fd);
		free(a);
		return NULL;
	}
	umask(old);
	if (*d->cfg.socket_group) {
		struct group *g = getgrnam(d->cfg.socket_group);
		if (!g || chown(a->path, (uid_t)-1, g->gr_gid))
			log_warn("%s: cannot give the socket to group '%s': %s", a->path, d->cfg.socket_group,
				 g ? strerror(errno) : "no such group");
	}
	if (*d->cfg.write_group) {
		struct group *g = getgrnam(d->cfg.write_group);
		if (g) {
			a->write_gid = g->gr_gid;
			a->have_write_gid = 1;
			resolve_write_members(a, g);
		} else {
			log_warn("WriteGroup '%s': no such group; only root and insitud's user may change state",
				 d->cfg.write_group);
		}
	}
	if (chmod(a->path, d->cfg.socket_mode))
		log_warn("chmod %s: %s", a->path, strerror(errno));
	e.events = EPOLLIN;
	e.data.ptr = &a->h;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, a->fd, &e)) {
		log_error("epoll: %s", strerror(errno));
		close(a->fd);
		free(a->write_uids);
		free(a);
		return NULL;
	}
	/* kept for the moment accept() runs out of descriptors (accept_exhausted) */
	a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	api_end_pass(a, 1, "");
	while (a->clients)
		client_close(a->clients);
	api_end_pass(a, 1, "");
	close(a->fd);
	unlink(a->path);
	if (a->spare_fd >= 0)
		close(a->spare_fd);
	free(a->write_uids);
	free(a->backlog);
	free(a);
}

void api_stats_json(const struct api *a, cJSON *o)
{
	cJSON_AddNumberToObject(o, "clients", a->nclients);
	cJSON_AddNumberToObject(o, "clients_accepted", (double)a->accepted);
	cJSON_AddNumberToObject(o, "clients_refused_full", (double)a->refused_full);
	cJSON_AddNumberToObject(o, "clients_dropped_too_long", (double)a->dropped_too_long);
	cJSON_AddNumberToObject(o, "clients_dropped_slow", (double)a->dropped_slow);
	cJSON_AddNumberToObject(o, "clients_dropped_io", (double)a->dropped_io);
	cJSON_AddNumberToObject(o, "request_lines", (double)a->lines);
	cJSON_AddNumberToObject(o, "requests_backlogged", (double)a->backlogged);
	cJSON_AddNumberToObject(o, "clients_refused_user", (double)a->refused_user);
	cJSON_AddNumberToObject(o, "clients_refused_nofd", (double)a->refused_nofd);
	cJSON_AddNumberToObject(o, "clients_accept_errors", (double)a->accept_errors);
	cJSON_AddNumberToObject(o, "clients_dropped_idle", (double)a->dropped_idle);
	cJSON_AddNumberToObject(o, "clients_throttled", (double)a->throttled);
	cJSON_AddNumberToObject(o, "clients_dropped_memory", (double)a->dropped_memory);
	cJSON_AddNumberToObject(o, "client_input_bytes", (double)a->inbytes);
	cJSON_AddNumberToObject(o, "requests_utf8_repaired", (double)a->invalid_utf8);
}
