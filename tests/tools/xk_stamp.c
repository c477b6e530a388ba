/* xk_stamp: rewrites a --record stream as the observer would have written it with
 * the given semantics' kernel rules, using the kernel interpreter's C mirror
 * (xk_eval, byte for byte the same as bpf/extract.bpf.h):
 *
 *   xk_stamp full|ids|none SEM[,SEM...] IN OUT
 *
 *   full   every message event gets the ids block the kernel would write, payload kept
 *   ids    as --payload=ids: complete blocks (F_ALL) replace the payload
 *   none   ids blocks removed (what the observer wrote before in-kernel extraction)
 *
 * OUT is an uncompressed stream (insitu-link reads it).  Prints on stderr the
 * message events, how many went without payload, and the average bytes per
 * message event (what they cost in the ring buffer).  For tests/bench/semantics.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_kernel.h"
#include "observer_record.h"

static struct xk_table xt;
static uint8_t out[sizeof(struct insitu_msg_event) + INSITU_IDS_MAX + 65536];

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "full") && strcmp(argv[1], "ids") && strcmp(argv[1], "none"))) {
		fprintf(stderr, "usage: xk_stamp full|ids|none SEM[,SEM...] IN OUT\n");
		return 2;
	}
	const char *paths[16];
	size_t np = 0;
	for (char *s = strtok(argv[2], ","); s && np < 16; s = strtok(NULL, ","))
		paths[np++] = s;
	static struct sem_diags d;
	struct sem_set *set = sem_load(paths, np, &d);
	if (!set) {
		sem_diags_print(&d, stderr);
		return 1;
	}
	xk_compile(set, &xt);
	bool ids_mode = !strcmp(argv[1], "ids"), none = !strcmp(argv[1], "none");
	if (ids_mode)
		xt.flags = INSITU_XC_IDS_ONLY | INSITU_XC_RAW; /* as the observer sets them */
	struct obs_reader rd;
	/* uncompressed (bench_linker record) or zstd (--record) */
	static uint8_t *raw;
	size_t raw_len = 0;
	FILE *in = fopen(argv[3], "rb");
	char magic[8] = { 0 };
	if (in && fread(magic, 1, 8, in) == 8 && !memcmp(magic, "INSITUEV", 8)) {
		fseek(in, 0, SEEK_END);
		raw_len = (size_t)ftell(in);
		rewind(in);
		raw = malloc(raw_len);
		if (!raw || fread(raw, 1, raw_len, in) != raw_len) {
			fprintf(stderr, "xk_stamp: %s: cannot read\n", argv[3]);
			return 1;
		}
	}
	if (in)
		fclose(in);
	if (raw ? obs_reader_open_raw(&rd, argv[3], raw, raw_len) : obs_reader_open(&rd, argv[3])) {
		fprintf(stderr, "xk_stamp: %s\n", rd.err);
		return 1;
	}
	FILE *f = fopen(argv[4], "wb");
	if (!f) {
		perror(argv[4]);
		return 1;
	}
	struct obs_file_header h = rd.hdr;
	h.header_len = sizeof(h);
	fwrite(&h, 1, sizeof(h), f);
	const void *rec;
	size_t len;
	uint64_t msgs = 0, dropped = 0, bytes = 0;
	int k;
	while ((k = obs_reader_next(&rd, &rec, &len)) == 1) {
		const struct insitu_ev_hdr *eh = rec;
		if (eh->kind != INSITU_EV_MSG || len > sizeof(out) - INSITU_IDS_MAX) {
			fwrite(rec, 1, len, f);
			continue;
		}
		const struct insitu_msg_event *e = rec;
		const uint8_t *pl = (const uint8_t *)rec + sizeof(*e) + e->ids_len;
		struct insitu_msg_event *x = (void *)out;
		*x = *e;
		uint8_t *ids = out + sizeof(*x);
		uint32_t n = 0;
		if (!none && e->cap_len)
			n = xk_eval_msg(&xt, pl, e->cap_len, e->bytes, e->t.proto, e->t.lport, e->t.rport,
				    e->dir == INSITU_DIR_SEND, ids, INSITU_IDS_MAX);
		uint32_t cap = e->cap_len;
		x->flags &= (uint16_t)~INSITU_F_IDS_ONLY;
		if (ids_mode && n >= 3 && (ids[0] & INSITU_XID_F_ALL)) {
			cap = 0;
			x->flags |= INSITU_F_IDS_ONLY;
			dropped++;
		}
		memcpy(ids + n, pl, cap);
		x->ids_len = (uint16_t)n;
		x->cap_len = (uint16_t)cap;
		x->hdr.size = (uint32_t)(sizeof(*x) + n + cap);
		fwrite(out, 1, x->hdr.size, f);
		msgs++;
		bytes += x->hdr.size;
	}
	obs_reader_close(&rd);
	if (k < 0 || fclose(f)) {
		fprintf(stderr, "xk_stamp: %s\n", k < 0 ? rd.err : "write failed");
		return 1;
	}
	fprintf(stderr, "xk_stamp %s: %llu message events, %llu without payload, %.1f bytes per message event\n",
		argv[1], (unsigned long long)msgs, (unsigned long long)dropped, msgs ? (double)bytes / (double)msgs : 0.0);
	sem_free(set);
	free(raw);
	return 0;
}
