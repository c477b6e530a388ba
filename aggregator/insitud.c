/* insitud: the per-host aggregator daemon.  Main and the event loop.
 *
 * One thread, one epoll loop.  Each pass: handle every ready socket (clients' lines
 * are applied to the in-memory store at once, writes go into one open SQLite
 * transaction), then commit that transaction (group commit), then release the
 * answers and peer acknowledgements of the pass.  So an acknowledgement always
 * follows its commit, and one fsync-free commit serves many reports. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "insitud.h"
#include "log.h"
#include "peers.h"
#include "sandbox.h"

static struct insitud D;

static void on_signal(int sig) { D.stop = 1; }

static void usage(FILE *f)
{
	fprintf(f,
"Usage: insitud [OPTIONS]\n"
"\n"
"The insitu aggregator: keeps observations (reports) about subjects from local\n"
"observers and from peer aggregators, infers each subject's health the way Panorama\n"
"does, persists everything in SQLite and answers on a Unix socket (docs/protocol.md).\n"
"\n"
"Options (override the configuration file):\n"
"  -c, --config FILE      JSON configuration (see `insitu mkconfig`, docs/aggregator.md)\n"
"  -s, --socket PATH      Unix socket (default /run/insitu/insitud.sock)\n"
"  -g, --socket-group G   group owning the socket (mode 0660)\n"
"      --socket-mode MODE socket permissions (default 0660)\n"
"      --write-group G    only root, insitud's user and members of G may submit,\n"
"                         register or change the watch list (checked with SO_PEERCRED);\n"
"                         others who can connect may only query\n"
"  -d, --db FILE          SQLite database (default /var/lib/insitu/insitud.db)\n"
"  -i, --id NAME          this instance's id among its peers (default insitud)\n"
"  -l, --listen HOST:PORT accept peer aggregators here\n"
"  -p, --peer ID=HOST:PORT  a peer aggregator (repeatable)\n"
"  -k, --key-file FILE    pre-shared peer key: 64 hex digits (required with peers)\n"
"  -f, --filter           ignore peers' reports about subjects not watched here\n"
"  -w, --watch SUBJECT    watch SUBJECT from the start (repeatable)\n"
"      --gc MODE:SECONDS  garbage collection: absolute:300, relative:60 (default off)\n"
"      --sync full        fsync every commit (survive power loss, slower)\n"
"      --peer-timeout S   a peer silent this long is reconnected (default 5)\n"
"  -v, --verbose          more logging (repeat for debug)\n"
"  -q, --quiet            errors only\n"
"  -h, --help             this text\n"
"\n"
"Signals: TERM/INT stop cleanly (the open transaction is committed first).\n");
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{"config", 1, 0, 'c'}, {"socket", 1, 0, 's'}, {"socket-group", 1, 0, 'g'},
		{"db", 1, 0, 'd'}, {"id", 1, 0, 'i'}, {"listen", 1, 0, 'l'}, {"peer", 1, 0, 'p'},
		{"key-file", 1, 0, 'k'}, {"filter", 0, 0, 'f'}, {"watch", 1, 0, 'w'},
		{"gc", 1, 0, 'G'}, {"sync", 1, 0, 'S'}, {"peer-timeout", 1, 0, 'T'}, {"write-group", 1, 0, 'W'},
		{"socket-mode", 1, 0, 'M'}, {"verbose", 0, 0, 'v'}, {"quiet", 0, 0, 'q'},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	char err[512];
	int o, verbose = 0, quiet = 0;

	/* the config file first, so that flags override it whatever their order */
	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
			if (config_load(c, argv[i + 1], err, sizeof err)) {
				log_error("%s", err);
				return -1;
			}
	while ((o = getopt_long(argc, argv, "c:s:g:d:i:l:p:k:fw:vqh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			break;
		case 's':
			if (strlen(optarg) >= sizeof c->socket) {
				log_error("--socket: path longer than %zu bytes", sizeof c->socket - 1);
				return -1;
			}
			snprintf(c->socket, sizeof c->socket, "%s", optarg);
			break;
		case 'g':
			snprintf(c->socket_group, sizeof c->socket_group, "%s", optarg);
			break;
		case 'd':
			snprintf(c->db, sizeof c->db, "%s", optarg);
			break;
		case 'i':
			if (!insitu_name_valid(optarg, CFG_ID_MAX)) {
				log_error("--id: expected a name of 1-%d bytes without spaces", CFG_ID_MAX - 1);
				return -1;
			}
			snprintf(c->id, sizeof c->id, "%s", optarg);
			break;
		case 'l':
			snprintf(c->listen, sizeof c->listen, "%s", optarg);
			break;
		case 'p': {
			char id[CFG_ID_MAX], *eq = strchr(optarg, '=');
			if (!eq || (size_t)(eq - optarg) >= sizeof id) {
				log_error("--peer '%s': expected ID=HOST:PORT", optarg);
				return -1;
			}
			memcpy(id, optarg, (size_t)(eq - optarg));
			id[eq - optarg] = '\0';
			if (config_add_peer(c, id, eq + 1, err, sizeof err)) {
				log_error("--peer: %s", err);
				return -1;
			}
			break;
		}
		case 'k':
			if (config_read_key(optarg, c->key, err, sizeof err)) {
				log_error("--key-file: %s", err);
				return -1;
			}
			c->have_key = 1;
			break;
		case 'f':
			c->filter = 1;
			break;
		case 'w':
			if (!insitu_name_valid(optarg, INSITU_NAME_MAX) || config_add_subject(c, optarg)) {
				log_error("--watch '%s': not a valid subject name", optarg);
				return -1;
			}
			break;
		case 'G': {
			char *colon = strchr(optarg, ':'), *end;
			double secs;
			if (!strcmp(optarg, "off")) {
				c->gc_mode = GC_OFF;
				break;
			}
			if (!colon || (secs = strtod(colon + 1, &end)) < 0 || *end || end == colon + 1) {
				log_error("--gc '%s': expected absolute:SECONDS, relative:SECONDS or off", optarg);
				return -1;
			}
			*colon = '\0';
			if (!strcmp(optarg, "absolute"))
				c->gc_mode = GC_ABSOLUTE;
			else if (!strcmp(optarg, "relative"))
				c->gc_mode = GC_RELATIVE;
			else {
				log_error("--gc: mode '%s' is not absolute or relative", optarg);
				return -1;
			}
			c->gc_ttl_us = (uint64_t)(secs * 1e6);
			if (c->gc_interval_ms > 1000 && secs < 10)
				c->gc_interval_ms = 1000;
			break;
		}
		case 'T': {
			char *end;
			double secs = strtod(optarg, &end);
			if (*end || end == optarg || secs <= 0 || secs > 3600) {
				log_error("--peer-timeout '%s': expected seconds (0 < t <= 3600)", optarg);
				return -1;
			}
			c->peer_timeout_ms = (unsigned)(secs * 1000);
			break;
		}
		case 'W':
			snprintf(c->write_group, sizeof c->write_group, "%s", optarg);
			break;
		case 'M': {
			char *end;
			unsigned long m = strtoul(optarg, &end, 8);
			if (*end || end == optarg || m > 0777) {
				log_error("--socket-mode '%s': expected an octal mode such as 0660", optarg);
				return -1;
			}
			c->socket_mode = (unsigned)m;
			break;
		}
		case 'S':
			if (strcmp(optarg, "full") && strcmp(optarg, "normal")) {
				log_error("--sync: expected full or normal");
				return -1;
			}
			c->sync_full = !strcmp(optarg, "full");
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	/* a Panorama-style peer list names every instance, this one included */
	for (unsigned i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i].id, c->id))
			c->peers[i--] = c->peers[--c->npeers];
	if (verbose)
		c->log_level = verbose > 1 ? LOG_DEBUG : LOG_INFO;
	if (quiet)
		c->log_level = LOG_ERROR;
	if ((c->npeers || *c->listen) && !c->have_key) {
		log_error("peers need a pre-shared key: --key-file FILE (or KeyFile in the config); "
			  "make one with: head -c32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE");
		return -1;
	}
	return 0;
}

/* Up to 1024 clients and 256 peers need more descriptors than the usual soft
 * limit of 1024: without this, accept() fails with EMFILE long before the client
 * cap is reached. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[128];
	struct sigaction sa = {.sa_handler = on_signal};
	uint64_t next_tick = 0;
	int rc = 1, backlog = 0;

	log_init("insitud", LOG_INFO);
	config_defaults(&D.cfg);
	if (parse_args(argc, argv, &D.cfg))
		return 2;
	log_set_level((enum log_level)D.cfg.log_level);
	/* The database holds every observation: owner only (the socket's own mode is
	 * set explicitly by api.c). */
	umask(0077);
	raise_fd_limit();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (D.epfd < 0 || core_open(&D))
		goto out;
	if (!(D.api = api_new(&D)))
		goto out;
	if ((D.cfg.npeers || *D.cfg.listen) && !(D.peers = peers_new(&D)))
		goto out;
	log_info("%s ready: socket %s, %u peer(s)%s%s, filter %s", D.cfg.id, D.cfg.socket, D.cfg.npeers,
		 *D.cfg.listen ? ", listening on " : "", D.cfg.listen, D.cfg.filter ? "on" : "off");
	if (D.cfg.sandbox) { /* set up: from here on only the event loop's system calls */
		char err[200];
		if (sandbox_enter(SANDBOX_INSITUD, err, sizeof err))
			log_info("%s: running without it", err);
		else
			log_info("seccomp sandbox on: %zu system calls allowed, any other fails with EPERM",
				 sandbox_profile_size(SANDBOX_INSITUD));
	}

	while (!D.stop) {
		uint64_t now = now_ms();
		/* requests left waiting by a client's per-pass limit: do not sleep */
		int timeout = backlog ? 0 : next_tick > now ? (int)(next_tick - now) : 0;
		int n = epoll_wait(D.epfd, evs, 128, timeout);
		const char *msg;
		int committed;

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;
			h->fn(h, evs[i].events);
		}
		backlog = api_run_backlog(D.api);
		committed = core_commit(&D) == 0;
		msg = committed ? "" : D.db.err;
		api_end_pass(D.api, committed, msg);
		if (D.peers)
			peers_end_pass(D.peers, committed);
		now = now_ms();
		if (now >= next_tick) {
			next_tick = now + 50;
			if (D.peers)
				peers_tick(D.peers, now);
			api_tick(D.api, now);
			core_housekeeping(&D, now);
		}
	}
	rc = D.stop == 1 ? 0 : 1;
	log_info("stopping");
out:
	if (D.peers)
		peers_free(D.peers);
	if (D.api) {
		core_commit(&D);
		api_free(D.api);
	}
	core_close(&D);
	config_free(&D.cfg);
	if (D.epfd >= 0)
		close(D.epfd);
	return rc;
}
