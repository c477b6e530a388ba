/* xk_agree: loads the real observer BPF programs with the kernel ID rules compiled
 * from semantics files, watches real traffic, and checks for every captured
 * message that
 *   1. the ids block the kernel wrote equals, byte for byte, what the C reference
 *      of the interpreter (xk_eval) writes for the same payload, and
 *   2. the kernel's ids equal user space's (sem_extract on the same bytes) for
 *      every id the kernel is able to extract.
 * It also sums ring-buffer bytes: what each event cost, and what it would cost
 * carrying the ids block instead of the payload (the "ids only" saving).
 *
 *   xk_agree -s FILE[,FILE...] [--duration SEC] [-v]
 * Prints "ready" once attached; stops on SIGINT/SIGTERM or after SEC seconds;
 * exit status 0 when at least one message had kernel ids and none disagreed. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract_kernel.h"
#include "observer_consumer.h"
#include "observer_loader.h"
#include "observer_sink.h"
#include "semantics.h"
#include "timeutil.h"

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

struct agree {
	const struct sem_set *set;
	struct xk_table *t;
	int verbose;
	uint64_t msgs, classified, with_ids, ids, agree, disagree, ref_mismatch;
	uint64_t ev_bytes, ids_only_bytes, payload_bytes;
	uint64_t per_proto[16][2]; /* [pset] {messages with ids, disagreements} */
};

static void on_msg(void *ctx, const struct insitu_msg_event *ev, const uint8_t *ids, const uint8_t *payload)
{
	struct agree *a = ctx;
	if (!ev->cap_len || (ev->flags & (INSITU_F_ERROR | INSITU_F_PEEK)))
		return;
	uint16_t lport = ev->t.lport, rport = ev->t.rport;
	int send = ev->dir == INSITU_DIR_SEND;
	const struct sem_protocol *p = NULL;
	enum sem_dir dir = SEM_TO_SERVER;
	for (int side = 0; side < 2 && !p; side++) {
		uint16_t port = side == 0 ? lport : rport;
		if (!sem_is_server_port(a->set, ev->t.proto, port))
			continue;
		/* side 0: we are the server */
		dir = (side == 0) == send ? SEM_FROM_SERVER : SEM_TO_SERVER;
		p = sem_lookup(a->set, ev->t.proto, port, dir, payload, ev->cap_len);
	}
	if (!p)
		return;
	a->msgs++;
	a->ev_bytes += ev->hdr.size;
	a->payload_bytes += ev->cap_len;
	a->ids_only_bytes += sizeof(*ev) + ev->ids_len;

	/* 1. kernel block == reference block */
	uint8_t ref[INSITU_IDS_MAX];
	uint32_t rn = xk_eval_msg(a->t, payload, ev->cap_len, ev->bytes, ev->t.proto, lport, rport, send, ref, sizeof(ref));
	bool same_block = rn == ev->ids_len && !memcmp(ref, ids, rn);
	if (!same_block)
		a->ref_mismatch++;

	/* 2. kernel ids == user-space ids, for what the kernel extracts */
	struct sem_result ur, kr;
	sem_extract(p, dir, payload, ev->cap_len, ev->cap_len, &ur);
	int32_t mask = xk_type_slots(a->t, p, dir, ur.type);
	char ut[600], kt[600];
	if (mask < 0) {
		struct sem_result none = { .type = -1 };
		xk_format(&none, -1, ut, sizeof(ut));
	} else {
		xk_format(&ur, mask, ut, sizeof(ut));
		a->classified++;
	}
	int nk = xk_decode(ids, ev->ids_len, &kr);
	/* raw records (the DNS question) become ids as the linker makes them */
	if (nk >= 0 && ev->ids_len && xk_result(p, dir, ids, ev->ids_len, false, &kr) < 0)
		nk = -1;
	if (nk < 0)
		snprintf(kt, sizeof(kt), "malformed ids block (%u bytes)", ev->ids_len);
	else
		xk_format(&kr, mask, kt, sizeof(kt));
	if (nk > 0) {
		a->with_ids++;
		a->ids += (uint64_t)nk;
	}
	int ps = -1;
	for (uint32_t i = 0; i < a->t->n_psets; i++)
		if (a->t->pset_proto[i] == p)
			ps = (int)i;
	bool ok = same_block && !strcmp(ut, kt);
	if (ps >= 0 && ps < 16) {
		a->per_proto[ps][0] += nk > 0;
		a->per_proto[ps][1] += !ok;
	}
	if (ok) {
		a->agree++;
	} else {
		a->disagree++;
		if (a->disagree <= 20)
			printf("DISAGREE %s %s %u bytes: kernel {%s}%s user {%s}\n", sem_protocol_name(p),
			       dir == SEM_TO_SERVER ? "to_server" : "from_server", ev->cap_len, kt,
			       same_block ? "" : " (differs from the C reference)", ut);
	}
	if (a->verbose)
		printf("msg %s %s cap=%u ids_len=%u kernel {%s} user {%s}\n", sem_protocol_name(p),
		       dir == SEM_TO_SERVER ? "to_server" : "from_server", ev->cap_len, ev->ids_len, kt, ut);
}

int main(int argc, char **argv)
{
	char *sem = NULL;
	unsigned duration = 30;
	int verbose = 0;
	static const struct option opts[] = { { "semantics", required_argument, 0, 's' },
					      { "duration", required_argument, 0, 'd' },
					      { "verbose", no_argument, 0, 'v' },
					      { 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "s:d:v", opts, NULL)) != -1) {
		if (c == 's')
			sem = optarg;
		else if (c == 'd')
			duration = (unsigned)atoi(optarg);
		else if (c == 'v')
			verbose = 1;
		else
			return 2;
	}
	if (!sem) {
		fprintf(stderr, "usage: xk_agree -s FILE[,FILE...] [--duration SEC] [-v]\n");
		return 2;
	}
	static struct sem_diags d;
	struct sem_set *set = sem_load_list(sem, &d);
	if (!set) {
		sem_diags_print(&d, stderr);
		return 2;
	}
	static struct xk_table t;
	xk_compile(set, &t);
	t.flags = INSITU_XC_RAW; /* raw rules too (the DNS question), payload kept */
	fprintf(stderr, "xk_agree: %u rules, %u ids in the kernel, %u in user space, %u types and %u protocols not compiled\n",
		t.n_rules, t.ids_compiled, t.ids_user_space, t.types_skipped, t.protocols_skipped);

	struct observer_opts oo;
	observer_opts_default(&oo);
	oo.port_filter = true;
	oo.no_lifecycle = true;
	char err[512];
	struct observer *o = observer_open(&oo, err, sizeof(err));
	if (!o || observer_load(o, err, sizeof(err))) {
		fprintf(stderr, "xk_agree: %s\n", err);
		return 2;
	}
	for (uint32_t i = 0; i < t.n_psets; i++)
		for (unsigned k = 0; k < t.psets[i].n; k++)
			observer_add_port(o, t.psets[i].ports[k]);
	int rc = xk_install(observer_bpf_object(o), &t);
	if (rc) {
		fprintf(stderr, "xk_agree: installing rules: %s\n", strerror(-rc));
		return 2;
	}
	if (observer_attach(o, err, sizeof(err))) {
		fprintf(stderr, "xk_agree: %s\n", err);
		return 2;
	}
	struct agree a = { .set = set, .t = &t, .verbose = verbose };
	struct obs_sink sink = { .name = "xk_agree", .ctx = &a, .on_msg = on_msg };
	struct obs_pipeline pl = { 0 };
	obs_pipeline_add(&pl, &sink);
	struct obs_consumer cons;
	if (obs_consumer_init(&cons, observer_ringbuf_fd(o), &pl, 50)) {
		fprintf(stderr, "xk_agree: ring buffer\n");
		return 2;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	printf("ready\n");
	fflush(stdout);
	uint64_t end = mono_ns() + (uint64_t)duration * 1000000000ull;
	while (!stop && mono_ns() < end) {
		int n = obs_consumer_poll(&cons);
		if (n < 0 && n != -EINTR)
			break;
		fflush(stdout);
	}
	obs_consumer_drain(&cons);
	printf("messages %llu classified %llu with_ids %llu ids %llu agree %llu disagree %llu reference_mismatch %llu\n",
	       (unsigned long long)a.msgs, (unsigned long long)a.classified, (unsigned long long)a.with_ids,
	       (unsigned long long)a.ids, (unsigned long long)a.agree, (unsigned long long)a.disagree,
	       (unsigned long long)a.ref_mismatch);
	for (uint32_t i = 0; i < t.n_psets && i < 16; i++)
		printf("protocol %s with_ids %llu disagree %llu\n", sem_protocol_name(t.pset_proto[i]),
		       (unsigned long long)a.per_proto[i][0], (unsigned long long)a.per_proto[i][1]);
	if (a.msgs)
		printf("ringbuf bytes per event: with payload %.1f, ids only %.1f (payload %.1f, ids %.1f)\n",
		       (double)a.ev_bytes / a.msgs, (double)a.ids_only_bytes / a.msgs,
		       (double)a.payload_bytes / a.msgs,
		       (double)(a.ids_only_bytes - a.msgs * sizeof(struct insitu_msg_event)) / a.msgs);
	fflush(stdout);
	obs_consumer_free(&cons);
	observer_close(o);
	sem_free(set);
	return a.with_ids > 0 && a.disagree == 0 ? 0 : 1;
}
