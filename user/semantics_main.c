/* insitu-semantics: check semantics files, and run them over captured traffic.
 * (`insitu semantics ...` dispatches here.) */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_kernel.h"
#include "semantics.h"

static const char usage_text[] =
	"Usage: insitu-semantics check [-v] [--json] FILE...\n"
	"       insitu-semantics frame [--json] [--split N] -s FILE[,FILE...] CAPTURE...\n"
	"       insitu-semantics kernel FILE...\n"
	"\n"
	"Protocol semantics (docs/semantics.md) tell insitu how to split a protocol's\n"
	"byte stream into messages and where each message's Rake ids are.\n"
	"\n"
	"check   Validates semantics files.  Every problem is printed as\n"
	"          FILE:LINE:COLUMN: JSON-PATH: what is wrong and what was expected\n"
	"        and the exit status is 1 if there was any.  -v also lists what each\n"
	"        valid file defines.  --json prints {\"ok\":..., \"problems\":[...]}.\n"
	"\n"
	"frame   Feeds captured traffic through the framers and the extractor and prints\n"
	"        one line per message: connection, direction, stream offset, length,\n"
	"        type, role, ids, outcome.  A CAPTURE file has one line per read:\n"
	"          CONN C|S HEX       (C: client to server, S: server to client)\n"
	"        with '#' comment lines; '# transport: udp' and '# port: N' set the\n"
	"        connection's transport and server port (default tcp, the semantics'\n"
	"        first port).  --split N re-feeds every read in pieces of N bytes\n"
	"        (1 = byte by byte): the output must not change.\n"
	"\n"
	"kernel  Shows which message types and ids compile into the in-kernel rule\n"
	"        table (bpf/extract.h) and which stay in user space, rule by rule.\n"
	"\n"
	"Options:\n"
	"  -s, --semantics FILES  comma-separated semantics files (frame)\n"
	"  -v, --verbose          describe valid files (check)\n"
	"      --json             machine-readable output\n"
	"      --split N          feed reads in pieces of N bytes (frame)\n"
	"  -h, --help             this text\n"
	"\n"
	"Exit status: 0 ok, 1 problems found, 2 usage or I/O error.\n";

static void json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

static int cmd_check(int argc, char **argv)
{
	bool verbose = false, json = false;
	static const struct option opts[] = { { "verbose", no_argument, 0, 'v' }, { "json", no_argument, 0, 'J' },
					      { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v': verbose = true; break;
		case 'J': json = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "insitu-semantics check: no files given\n");
		return 2;
	}
	static struct sem_diags d;
	struct sem_set *set = sem_load((const char *const *)argv + optind, (size_t)(argc - optind), &d);
	if (json) {
		printf("{\"ok\":%s,\"problems\":[", set ? "true" : "false");
		for (unsigned i = 0; i < d.n; i++) {
			printf("%s{\"file\":", i ? "," : "");
			json_str(stdout, d.d[i].file);
			printf(",\"line\":%d,\"column\":%d,\"path\":", d.d[i].line, d.d[i].col);
			json_str(stdout, d.d[i].path);
			printf(",\"message\":");
			json_str(stdout, d.d[i].msg);
			printf("}");
		}
		printf("]}\n");
	} else {
		sem_diags_print(&d, stdout);
	}
	if (set && verbose && !json) {
		for (size_t i = 0; i < sem_protocol_count(set); i++) {
			const struct sem_protocol *p = sem_protocol_at(set, i);
			const uint16_t *ports;
			size_t np = sem_protocol_ports(p, &ports);
			printf("%s: %s ports", sem_protocol_name(p), sem_protocol_transport(p) == IPPROTO_UDP ? "udp" : "tcp");
			for (size_t k = 0; k < np; k++)
				printf(" %u", ports[k]);
			printf("\n");
		}
	}
	if (set && !json)
		printf("%d file%s ok\n", argc - optind, argc - optind == 1 ? "" : "s");
	sem_free(set);
	return set ? 0 : 1;
}

/* ---- frame ---------------------------------------------------------------------- */

#define MAX_CONNS 64

struct conn {
	int id;
	const struct sem_protocol *p;
	struct sem_framer *fr[2];
};

struct frame_ctx {
	const struct sem_protocol *p;
	int conn;
	enum sem_dir dir;
	bool json;
};

static void print_id(const char *name, const struct sem_id *id, bool json, bool *first)
{
	if (!id->len)
		return;
	char buf[2 * SEM_ID_MAX + 1];
	sem_id_format(id, buf, sizeof(buf));
	if (json) {
		printf(",");
		json_str(stdout, name);
		printf(":");
		json_str(stdout, buf);
	} else {
		printf("%s%s=%s", *first ? "" : " ", name, buf);
	}
	*first = false;
}

static const char *const role_names[] = { "unknown", "request", "response", "oneway" };
static const char *const status_names[] = { "invalid", "na", "healthy", "pending", "maybe_unhealthy",
					    "unhealthy", "dying", "dead" };

static void on_frame(void *vctx, const struct sem_frame *fr)
{
	struct frame_ctx *c = vctx;
	struct sem_result r;
	sem_extract(c->p, c->dir, fr->data, fr->cap, fr->len, &r);
	const char *d = c->dir == SEM_TO_SERVER ? "C" : "S";
	char flags[64] = "";
	snprintf(flags, sizeof(flags), "%s%s%s%s%s", fr->flags & SEM_FR_TRUNCATED ? ",truncated" : "",
		 fr->flags & SEM_FR_GAP ? ",gap" : "", fr->flags & SEM_FR_ABORTED ? ",aborted" : "",
		 r.flags & SEM_R_TRUNCATED ? ",id_truncated" : "", r.flags & SEM_R_ID_CUT ? ",id_cut" : "");
	bool first = true;
	if (c->json) {
		printf("{\"conn\":%d,\"dir\":\"%s\",\"pos\":%llu,\"len\":%llu,\"type\":", c->conn, d,
		       (unsigned long long)fr->pos, (unsigned long long)fr->len);
		json_str(stdout, r.type_name);
		printf(",\"role\":\"%s\"", role_names[r.role]);
	} else {
		printf("%d %s %llu+%llu %s %s ", c->conn, d, (unsigned long long)fr->pos, (unsigned long long)fr->len,
		       r.type >= 0 ? r.type_name : "?", role_names[r.role]);
	}
	print_id("link", &r.link, c->json, &first);
	print_id("query", &r.query, c->json, &first);
	print_id("response", &r.response, c->json, &first);
	for (size_t i = 0; i < r.n_follow; i++)
		print_id("follow", &r.follow[i], c->json, &first);
	if (c->json) {
		if (r.has_outcome)
			printf(",\"status\":\"%s\",\"score\":%g,\"code\":%d", status_names[r.status], r.score, r.code);
		printf(",\"label\":");
		json_str(stdout, r.label);
		printf(",\"flags\":\"%s\"}\n", flags[0] ? flags + 1 : "");
	} else {
		if (r.has_outcome)
			printf("%soutcome=%s/%g/%d", first ? "" : " ", status_names[r.status], r.score, r.code);
		if (r.label[0])
			printf(" label=\"%s\"", r.label);
		if (flags[0])
			printf(" [%s]", flags + 1);
		printf("\n");
	}
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int frame_file(const struct sem_set *set, const char *path, bool json, size_t split)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "insitu-semantics: %s: %s\n", path, strerror(errno));
		return 2;
	}
	int transport = IPPROTO_TCP, port = 0;
	struct conn conns[MAX_CONNS];
	size_t nconn = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	uint8_t *bytes = NULL;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		if (line[0] == '#') {
			if (!strncmp(line, "# transport: udp", 16))
				transport = IPPROTO_UDP;
			sscanf(line, "# port: %d", &port);
			continue;
		}
		int id;
		char dch;
		int used = 0;
		if (sscanf(line, "%d %c %n", &id, &dch, &used) < 2 || (dch != 'C' && dch != 'S')) {
			fprintf(stderr, "%s:%d: expected \"CONN C|S HEX\"\n", path, lineno);
			rc = 2;
			break;
		}
		const char *hx = line + used;
		size_t hl = strlen(hx);
		if (hl % 2) {
			fprintf(stderr, "%s:%d: odd number of hex digits\n", path, lineno);
			rc = 2;
			break;
		}
		free(bytes);
		bytes = malloc(hl / 2 + 1);
		size_t bn = 0;
		for (size_t i = 0; i < hl; i += 2) {
			int a = hexval(hx[i]), b = hexval(hx[i + 1]);
			if (a < 0 || b < 0)
				break;
			bytes[bn++] = (uint8_t)(a << 4 | b);
		}
		enum sem_dir dir = dch == 'C' ? SEM_TO_SERVER : SEM_FROM_SERVER;
		struct conn *cn = NULL;
		for (size_t i = 0; i < nconn; i++)
			if (conns[i].id == id)
				cn = &conns[i];
		if (!cn) {
			if (nconn == MAX_CONNS) {
				fprintf(stderr, "%s:%d: more than %d connections\n", path, lineno, MAX_CONNS);
				rc = 2;
				break;
			}
			cn = &conns[nconn++];
			memset(cn, 0, sizeof(*cn));
			cn->id = id;
			uint16_t sport = (uint16_t)port;
			if (!sport && sem_protocol_count(set)) {
				const uint16_t *ports;
				sem_protocol_ports(sem_protocol_at(set, 0), &ports);
				sport = ports[0];
			}
			cn->p = sem_lookup(set, transport, sport, dir, bytes, bn);
			if (!cn->p) {
				fprintf(stderr, "%s:%d: no semantics claims %s port %u for these bytes\n", path, lineno,
					transport == IPPROTO_UDP ? "udp" : "tcp", sport);
				rc = 1;
				break;
			}
			cn->fr[0] = sem_framer_new(cn->p, SEM_TO_SERVER);
			cn->fr[1] = sem_framer_new(cn->p, SEM_FROM_SERVER);
			sem_framer_pair(cn->fr[0], cn->fr[1]);
		}
		struct frame_ctx fc = { cn->p, id, dir, json };
		size_t step = split && transport == IPPROTO_TCP ? split : bn;
		if (!step)
			step = 1;
		for (size_t o = 0; o < bn || (bn == 0 && o == 0); o += step) {
			size_t k = bn - o < step ? bn - o : step;
			sem_framer_feed(cn->fr[dir], bytes + o, k, k, (uint64_t)lineno, (uint64_t)lineno, on_frame, &fc);
			if (!bn)
				break;
		}
	}
	for (size_t i = 0; i < nconn; i++) {
		for (int d = 0; d < 2; d++) {
			struct frame_ctx fc = { conns[i].p, conns[i].id, (enum sem_dir)d, json };
			sem_framer_flush(conns[i].fr[d], on_frame, &fc);
			sem_framer_free(conns[i].fr[d]);
		}
	}
	free(bytes);
	free(line);
	fclose(f);
	return rc;
}

static int cmd_frame(int argc, char **argv)
{
	bool json = false;
	size_t split = 0;
	char *sem = NULL;
	static const struct option opts[] = { { "semantics", required_argument, 0, 's' },
					      { "json", no_argument, 0, 'J' },
					      { "split", required_argument, 0, 'S' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sem = optarg; break;
		case 'J': json = true; break;
		case 'S': split = (size_t)strtoul(optarg, NULL, 10); break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (!sem || optind >= argc) {
		fprintf(stderr, "insitu-semantics frame: need -s FILES and at least one capture\n");
		return 2;
	}
	static struct sem_diags d;
	struct sem_set *set = sem_load_list(sem, &d);
	if (!set) {
		sem_diags_print(&d, stderr);
		return 1;
	}
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		int r = frame_file(set, argv[i], json, split);
		if (r > rc)
			rc = r;
	}
	sem_free(set);
	return rc;
}

static const char *const slot_names[] = { "type", "link_id", "query_id", "response_id", "follow_id" };

static int cmd_kernel(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "insitu-semantics kernel: no files given\n");
		return 2;
	}
	static struct sem_diags d;
	struct sem_set *set = sem_load((const char *const *)argv + 1, (size_t)(argc - 1), &d);
	if (!set) {
		sem_diags_print(&d, stderr);
		return 1;
	}
	static struct xk_table t;
	xk_compile(set, &t);
	printf("%u of %u rules; ids in the kernel: %u, in user space: %u; types not compiled: %u; "
	       "protocols not compiled (detect): %u; rules dropped (table full): %u\n",
	       t.n_rules, INSITU_XR_MAX, t.ids_compiled, t.ids_user_space, t.types_skipped, t.protocols_skipped,
	       t.rules_dropped);
	printf("message types complete in the kernel (no payload with --payload=ids): %u\n", t.types_complete);
	for (uint32_t i = 0; i < t.n_rules; i++) {
		const struct insitu_xrule *r = &t.rules[i];
		const struct sem_protocol *p = t.pset_proto[r->pset];
		if (r->kind == INSITU_XR_SIG) {
			printf("%3u %-12s %-11s type %u: signature", i, sem_protocol_name(p),
			       r->dir ? "from_server" : "to_server", r->tag);
			for (int k = 0; k < INSITU_XR_CHECKS; k++) {
				const struct insitu_xcheck *c = &r->chk[k];
				if (!c->len)
					continue;
				printf(" %s@%u=", c->negate ? "!" : "", c->off);
				bool masked = false;
				for (int b = 0; b < c->len; b++) {
					printf("%02x", c->val[b]);
					masked |= c->mask[b] != 0xff;
				}
				if (masked) {
					printf("/");
					for (int b = 0; b < c->len; b++)
						printf("%02x", c->mask[b]);
				}
			}
			if (r->min_len)
				printf(" min_len=%u", r->min_len);
			if (r->sflags & INSITU_XS_COMPLETE)
				printf(" [complete: --payload=ids sends no payload]");
			printf("\n");
			continue;
		}
		unsigned slot = r->tag & 0x0f;
		const char *sn = slot == INSITU_XID_OUTCOME ? "outcome" : slot == INSITU_XID_LABEL ? "label"
			       : slot_names[slot < 4 ? slot : 4];
		printf("%3u %-12s %-11s   %s: ", i, "", "", sn);
		if (r->kind == INSITU_XR_OFFSET)
			printf("bytes %u..%u%s\n", r->off, r->off + r->len, r->has_mask ? " masked" : "");
		else if (r->kind == INSITU_XR_LSTRING)
			printf("%u-byte-length string at %u (max %u)\n", r->lwidth, r->off, r->len);
		else
			printf("token after \"%.*s\" until 0x%02x (max %u)\n", r->lit_len, (const char *)r->lit, r->until,
			       r->len);
	}
	sem_free(set);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "frame"))
		return cmd_frame(argc - 1, argv + 1);
	if (!strcmp(argv[1], "kernel"))
		return cmd_kernel(argc - 1, argv + 1);
	fprintf(stderr, "insitu-semantics: unknown command \"%s\" (expected check, frame or kernel)\n%s", argv[1], usage_text);
	return 2;
}
