/* insitud's configuration file (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileutil.h"
#include "json.h"
#include "log.h"
#include "utf8.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->id, sizeof c->id, "insitud");
	snprintf(c->socket, sizeof c->socket, "/run/insitu/insitud.sock");
	snprintf(c->db, sizeof c->db, "/var/lib/insitu/insitud.db");
	c->socket_mode = 0660;
	c->gc_interval_ms = 10000;
	c->peer_queue_max = 65536;
	c->peer_timeout_ms = 5000;
	c->log_level = LOG_INFO;
	c->clients_per_user = 256;
	c->client_rate = 20000;
	c->client_idle_ms = 30000;
	c->sandbox = 1;
	c->client_memory_max = (size_t)256 << 20;
}

void config_free(struct config *c)
{
	for (unsigned i = 0; i < c->nsubjects; i++)
		free(c->subjects[i]);
	free(c->subjects);
	c->subjects = NULL;
	c->nsubjects = 0;
}

int config_add_subject(struct config *c, const char *s)
{
	char **n = realloc(c->subjects, (c->nsubjects + 1) * sizeof *n);
	if (!n)
		return -1;
	c->subjects = n;
	if (!(n[c->nsubjects] = strdup(s)))
		return -1;
	c->nsubjects++;
	return 0;
}

int config_add_peer(struct config *c, const char *id, const char *addr, char *err, size_t errlen)
{
	if (!insitu_name_valid(id, CFG_ID_MAX) || !strchr(addr, ':') || strlen(addr) >= CFG_ADDR_MAX) {
		snprintf(err, errlen, "peer '%s': expected ID=HOST:PORT", id);
		return -1;
	}
	if (!strcmp(id, c->id))
		return 0; /* Panorama configs list every instance, this one included */
	for (unsigned i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i].id, id)) {
			snprintf(c->peers[i].addr, sizeof c->peers[i].addr, "%s", addr);
			return 0;
		}
	if (c->npeers == CFG_PEERS_MAX) {
		snprintf(err, errlen, "more than %d peers", CFG_PEERS_MAX);
		return -1;
	}
	snprintf(c->peers[c->npeers].id, CFG_ID_MAX, "%s", id);
	snprintf(c->peers[c->npeers].addr, CFG_ADDR_MAX, "%s", addr);
	c->npeers++;
	return 0;
}

int config_read_key(const char *path, unsigned char key[32], char *err, size_t errlen)
{
	char buf[130];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
		/* whoever can read it can forge peer frames */
		log_warn("%s: the peer key is readable by group or others (mode %04o): chmod 600 it", path,
			 (unsigned)(st.st_mode & 07777));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (n != 64) {
		snprintf(err, errlen, "%s: expected 64 hex digits (a 256-bit key; `head -c32 /dev/urandom | xxd -p -c64`)", path);
		return -1;
	}
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)buf[2 * i]) || !isxdigit((unsigned char)buf[2 * i + 1]) ||
		    sscanf(buf + 2 * i, "%2x", &v) != 1) {
			snprintf(err, errlen, "%s:1:%d: expected a hex digit", path, 2 * i + 1);
			return -1;
		}
		key[i] = (unsigned char)v;
	}
	return 0;
}

#define BAD(v, ...)                                                                         \
	do {                                                                                \
		char _m[200];                                                               \
		snprintf(_m, sizeof _m, __VA_ARGS__);                                       \
		snprintf(err, errlen, "%s:%d:%d: %s", path, (v)->pos.line, (v)->pos.col, _m); \
		goto out;                                                                   \
	} while (0)

static int copy_str(const struct json_value *v, char *dst, size_t max)
{
	if (v->type != JSON_STRING || v->u.string.len >= max || strlen(v->u.string.s) != v->u.string.len)
		return -1;
	memcpy(dst, v->u.string.s, v->u.string.len + 1);
	return 0;
}

static int num_u64(const struct json_value *v, uint64_t *out)
{
	if (v->type != JSON_NUMBER || v->u.number.num < 0 || v->u.number.num > 1e15)
		return -1;
	*out = (uint64_t)v->u.number.num;
	return 0;
}

/* "Segments": every member a known limit within its range (the store's memory is the
 * operator's to size; a typo must not silently leave a default in place). */
static int segments_limits_parse(const struct json_value *o, struct segments_limits *l, const char *path,
				 char *err, size_t errlen)
{
	const struct {
		const char *key, *unit;
		uint64_t lo, hi, scale, *dst;
	} keys[] = {
		{"MaxPaths", "paths", 1, 10000000, 1, &l->paths},
		{"MaxBytes", "bytes", 4096, 1ull << 36, 1, &l->bytes},
		{"MaxAgeSeconds", "seconds", 1, 86400, 1000, &l->age_ms},
		{"MaxStitchBytes", "bytes", 4096, 1ull << 30, 1, &l->stitch_bytes},
		{"MaxAnswerBytes", "bytes", 4096, 1ull << 30, 1, &l->reply_bytes},
		{"MaxPeerAnswerBytes", "bytes", 4096, SEGQ_PEER_ANSWER_LIMIT, 1, &l->peer_answer_bytes},
	};
	for (size_t i = 0; i < o->u.object.n; i++) {
		const struct json_member *m = &o->u.object.members[i];
		size_t k = 0;
		uint64_t u;
		while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k].key, m->key))
			k++;
		if (k == sizeof keys / sizeof keys[0]) {
			snprintf(err, errlen, "%s:%d:%d: \"Segments\": unknown key \"%s\" (expected MaxPaths, MaxBytes, "
				 "MaxAgeSeconds, MaxStitchBytes, MaxAnswerBytes or MaxPeerAnswerBytes)",
				 path, m->key_pos.line, m->key_pos.col, m->key);
			return -1;
		}
		if (num_u64(m->value, &u) || !m->value->u.number.is_int || u < keys[k].lo || u > keys[k].hi) {
			snprintf(err, errlen, "%s:%d:%d: \"%s\": expected an integer number of %s from %llu to %llu",
				 path, m->value->pos.line, m->value->pos.col, m->key, keys[k].unit,
				 (unsigned long long)keys[k].lo, (unsigned long long)keys[k].hi);
			return -1;
		}
		*keys[k].dst = u * keys[k].scale;
	}
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	int rc;
	char *text = read_file_max(path, 1 << 20, &len);

	if (!text) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: larger than 1 MiB: not a configuration file", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = config_parse(c, text, len, path, err, errlen);
	free(text);
	if (rc == 0 && *c->key_file) {
		if (config_read_key(c->key_file, c->key, err, errlen))
			return -1;
		c->have_key = 1;
	}
	return rc;
}

int config_parse(struct config *c, const char *text, size_t len, const char *path, char *err, size_t errlen)
{
	struct json_error jerr;
	struct json_value *root = NULL;
	int rc = -1;
	size_t bad = utf8_check(text, len);

	if (bad < len) {
		/* names from here end up in JSON answers, which must be valid UTF-8 */
		int line = 1, col = 1;
		for (size_t i = 0; i < bad; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		snprintf(err, errlen, "%s:%d:%d: invalid UTF-8 (byte 0x%02x): the file must be UTF-8", path, line,
			 col, (unsigned char)text[bad]);
		return -1;
	}
	root = json_parse(text, len, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.pos.line, jerr.pos.col, jerr.msg);
		goto out;
	}
	if (root->type != JSON_OBJECT)
		BAD(root, "expected an object");
	for (size_t i = 0; i < root->u.object.n; i++) {
		const char *k = root->u.object.members[i].key;
		const struct json_value *v = root->u.object.members[i].value;
		char tmp[64];
		uint64_t u;

		if (!strcmp(k, "Addr")) {
			if (copy_str(v, c->listen, sizeof c->listen))
				BAD(v, "\"Addr\": expected \"host:port\"");
		} else if (!strcmp(k, "Id")) {
			if (copy_str(v, c->id, sizeof c->id) || !insitu_name_valid(c->id, sizeof c->id))
				BAD(v, "\"Id\": expected a name of 1-%d bytes", CFG_ID_MAX - 1);
		} else if (!strcmp(k, "Subjects")) {
			if (v->type != JSON_ARRAY)
				BAD(v, "\"Subjects\": expected an array of subject names");
			for (size_t j = 0; j < v->u.array.n; j++) {
				const struct json_value *s = v->u.array.items[j];
				if (s->type != JSON_STRING || !insitu_name_valid(s->u.string.s, INSITU_NAME_MAX))
					BAD(s, "expected a subject name");
				if (config_add_subject(c, s->u.string.s))
					BAD(s, "out of memory");
			}
		} else if (!strcmp(k, "Peers")) {
			if (v->type != JSON_OBJECT)
				BAD(v, "\"Peers\": expected an object {\"id\": \"host:port\"}");
			for (size_t j = 0; j < v->u.object.n; j++) {
				const struct json_value *a = v->u.object.members[j].value;
				char e2[160];
				if (a->type != JSON_STRING)
					BAD(a, "expected \"host:port\"");
				if (config_add_peer(c, v->u.object.members[j].key, a->u.string.s, e2, sizeof e2))
					BAD(a, "%s", e2);
			}
		} else if (!strcmp(k, "FilterSubmission")) {
			if (v->type != JSON_BOOL)
				BAD(v, "\"FilterSubmission\": expected true or false");
			c->filter = v->u.boolean;
		} else if (!strcmp(k, "LogLevel")) {
			if (copy_str(v, tmp, sizeof tmp))
				BAD(v, "\"LogLevel\": expected a string");
			if (!*tmp || !strcmp(tmp, "info"))
				c->log_level = LOG_INFO;
			else if (!strcmp(tmp, "debug"))
				c->log_level = LOG_DEBUG;
			else if (!strcmp(tmp, "warn") || !strcmp(tmp, "warning"))
				c->log_level = LOG_WARN;
			else if (!strcmp(tmp, "error"))
				c->log_level = LOG_ERROR;
			else
				BAD(v, "\"LogLevel\": expected error, warn, info or debug");
		} else if (!strcmp(k, "DBFile")) {
			if (copy_str(v, c->db, sizeof c->db) || !*c->db)
				BAD(v, "\"DBFile\": expected a path");
		} else if (!strcmp(k, "Socket")) {
			if (copy_str(v, c->socket, sizeof c->socket) || !*c->socket)
				BAD(v, "\"Socket\": expected a path of at most %zu bytes", sizeof c->socket - 1);
		} else if (!strcmp(k, "SocketGroup")) {
			if (copy_str(v, c->socket_group, sizeof c->socket_group))
				BAD(v, "\"SocketGroup\": expected a group name");
		} else if (!strcmp(k, "WriteGroup")) {
			if (copy_str(v, c->write_group, sizeof c->write_group))
				BAD(v, "\"WriteGroup\": expected a group name");
		} else if (!strcmp(k, "SocketMode")) {
			char *end;
			if (copy_str(v, tmp, sizeof tmp) || !(c->socket_mode = (unsigned)strtoul(tmp, &end, 8)) ||
			    *end || c->socket_mode > 0777)
				BAD(v, "\"SocketMode\": expected an octal mode string such as \"0660\"");
		} else if (!strcmp(k, "Sync")) {
			if (copy_str(v, tmp, sizeof tmp) || (strcmp(tmp, "normal") && strcmp(tmp, "full")))
				BAD(v, "\"Sync\": expected \"normal\" or \"full\"");
			c->sync_full = !strcmp(tmp, "full");
		} else if (!strcmp(k, "KeyFile")) {
			if (copy_str(v, c->key_file, sizeof c->key_file))
				BAD(v, "\"KeyFile\": expected a path");
		} else if (!strcmp(k, "GC")) {
			const struct json_value *m = json_get(v, "Mode"), *t = json_get(v, "TTL"),
						*iv = json_get(v, "Interval");
			if (v->type != JSON_OBJECT)
				BAD(v, "\"GC\": expected {\"Mode\": \"absolute\"|\"relative\"|\"off\", \"TTL\": seconds}");
			if (m) {
				if (copy_str(m, tmp, sizeof tmp))
					BAD(m, "\"Mode\": expected a string");
				if (!strcmp(tmp, "off"))
					c->gc_mode = GC_OFF;
				else if (!strcmp(tmp, "absolute"))
					c->gc_mode = GC_ABSOLUTE;
				else if (!strcmp(tmp, "relative"))
					c->gc_mode = GC_RELATIVE;
				else
					BAD(m, "\"Mode\": expected \"off\", \"absolute\" or \"relative\"");
			}
			if (t) {
				if (t->type != JSON_NUMBER || t->u.number.num < 0)
					BAD(t, "\"TTL\": expected seconds (a non-negative number)");
				c->gc_ttl_us = (uint64_t)(t->u.number.num * 1e6);
			}
			if (iv) {
				if (iv->type != JSON_NUMBER || iv->u.number.num <= 0)
					BAD(iv, "\"Interval\": expected seconds (a positive number)");
				c->gc_interval_ms = (uint64_t)(iv->u.number.num * 1e3);
			}
		} else if (!strcmp(k, "Retention")) {
			const struct json_value *a = json_get(v, "MaxAgeSeconds"), *n = json_get(v, "MaxReports");
			if (v->type != JSON_OBJECT)
				BAD(v, "\"Retention\": expected {\"MaxAgeSeconds\": N, \"MaxReports\": N}");
			if (a && num_u64(a, &c->retention_max_age_s))
				BAD(a, "\"MaxAgeSeconds\": expected a non-negative integer");
			if (n && num_u64(n, &c->retention_max_reports))
				BAD(n, "\"MaxReports\": expected a non-negative integer");
		} else if (!strcmp(k, "PeerQueue")) {
			if (num_u64(v, &u) || u < 16 || u > 10000000)
				BAD(v, "\"PeerQueue\": expected an integer between 16 and 10000000");
			c->peer_queue_max = (unsigned)u;
		} else if (!strcmp(k, "PeerTimeout")) {
			if (v->type != JSON_NUMBER || v->u.number.num <= 0 || v->u.number.num > 3600)
				BAD(v, "\"PeerTimeout\": expected seconds (0 < t <= 3600)");
			c->peer_timeout_ms = (unsigned)(v->u.number.num * 1000);
		} else if (!strcmp(k, "ClientsPerUser")) {
			if (num_u64(v, &u) || u > 1000000)
				BAD(v, "\"ClientsPerUser\": expected a number of clients (0 = no limit)");
			c->clients_per_user = (unsigned)u;
		} else if (!strcmp(k, "ClientRequestRate")) {
			if (num_u64(v, &u) || u > 100000000)
				BAD(v, "\"ClientRequestRate\": expected requests per second (0 = no limit)");
			c->client_rate = (unsigned)u;
		} else if (!strcmp(k, "ClientIdleTimeout")) {
			if (v->type != JSON_NUMBER || v->u.number.num < 0 || v->u.number.num > 86400)
				BAD(v, "\"ClientIdleTimeout\": expected seconds (0 = never, at most 86400)");
			c->client_idle_ms = (unsigned)(v->u.number.num * 1000);
		} else if (!strcmp(k, "Segments")) {
			if (v->type != JSON_OBJECT)
				BAD(v, "\"Segments\": expected {\"MaxPaths\": N, \"MaxBytes\": N, ...} (docs/aggregator.md)");
			if (segments_limits_parse(v, &c->segs, path, err, errlen))
				goto out;
		} else if (!strcmp(k, "ClientMemoryMax")) {
			if (num_u64(v, &u) || u < 2 || u > 1048576)
				BAD(v, "\"ClientMemoryMax\": expected MiB between 2 and 1048576");
			c->client_memory_max = (size_t)u << 20;
		} else if (!strcmp(k, "Sandbox")) {
			if (v->type != JSON_BOOL)
				BAD(v, "\"Sandbox\": expected true or false");
			c->sandbox = v->u.boolean;
		} else if (!strcmp(k, "DumpMemUsage")) {
			/* accepted for compatibility with Panorama configs; unused */
		} else {
			const struct json_member *mb = json_get_member(root, k);
			snprintf(err, errlen, "%s:%d:%d: unknown key \"%s\"", path, mb->key_pos.line,
				 mb->key_pos.col, k);
			goto out;
		}
	}
	rc = 0;
	/* peers listed before Id was read may include this instance: drop it */
	for (unsigned i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i].id, c->id)) {
			c->peers[i] = c->peers[--c->npeers];
			i--;
		}
out:
	json_free(root);
	return rc;
}
