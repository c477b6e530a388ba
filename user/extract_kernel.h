/* In-kernel ID extraction, user-space side: compile loaded semantics into the rule
 * table of bpf/extract.h, install it into the observer's BPF object, and decode the
 * ids block of message events.
 *
 * What compiles (everything else stays in user space, on the captured prefix):
 *  - protocols without a "detect" signature;
 *  - message types whose signature is at most 3 byte checks (a case-sensitive
 *    prefix of <= 16 bytes per alternative, byte predicates, min_length);
 *    compilation of a protocol direction stops at the first type that does not
 *    compile, because the kernel must see the same first match as user space;
 *  - ids (link, query, response, follow) from fixed offsets (<= 64 bytes, mask),
 *    token after a literal (<= 16 bytes, one-byte delimiter, max <= 64), and
 *    length-prefixed strings (1 or 2-byte length, max <= 64), at fixed offsets
 *    (base "body" only with a fixed-width length field).
 * The kernel searches AFTER literals in the first INSITU_XR_WINDOW bytes. */
#ifndef INSITU_EXTRACT_KERNEL_H
#define INSITU_EXTRACT_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/observer.h"
#include "../bpf/extract.h"
#include "semantics.h"

struct xk_table {
	uint32_t n_rules;
	struct insitu_xrule rules[INSITU_XR_MAX];
	uint32_t n_psets;
	struct insitu_xpset psets[INSITU_XR_MAX_PSETS];
	/* what did not fit, for `insitu-semantics kernel` and the observer's log */
	uint32_t ids_compiled, ids_user_space, types_skipped, protocols_skipped;
	uint32_t rules_dropped; /* table full */
	/* per port set: its protocol, and per direction and type the compiled slots */
	const struct sem_protocol *pset_proto[INSITU_XR_MAX_PSETS];
	int32_t slots[INSITU_XR_MAX_PSETS][2][32];
	/* every id and the outcome compile: "ids only" may drop its payload */
	bool complete[INSITU_XR_MAX_PSETS][2][32];
	/* ... except that one syscall cannot be known to be one message: varint or
	 * variant length framing, or a fallback type of a byte-stream framing */
	bool unframed[INSITU_XR_MAX_PSETS][2][32];
	uint32_t types_complete, types_unframed;
	uint32_t flags; /* enum insitu_xc_flag, written by xk_install() */
};

/* Compiles every protocol of 'set'; never fails (what cannot compile is counted). */
void xk_compile(const struct sem_set *set, struct xk_table *t);

/* Decodes an ids block into r (type, link/query/response/follow).  Returns the
 * number of ids, or -1 if the block is malformed.  Ids with INSITU_XID_F_END are
 * kept (the caller knows whether the message was truncated). */
int xk_decode(const uint8_t *ids, size_t n, struct sem_result *r);

/* The kernel's ids block of a message of protocol p in direction dir as the
 * sem_result sem_extract() would give (type name, role, ids, outcome applied with
 * p's rules, label if the kernel extracted it; SEM_R_TRUNCATED for an id that ran
 * to the end of a truncated capture).  Returns 1 when the block is complete
 * (INSITU_XID_F_ALL: no need to extract again), 0 when user space must still
 * extract from the payload, -1 when there is no usable block (empty, malformed,
 * or a type that is not one of p's types in this direction: a recording replayed
 * with other semantics). */
int xk_result(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *ids, size_t n,
	      bool truncated, struct sem_result *r);

/* The kernel interpreter in C, byte for byte (tests, benchmark, replay): 'cap'
 * captured bytes of a syscall that moved 'bytes' (xk_eval: bytes = cap). */
uint32_t xk_eval_msg(const struct xk_table *t, const uint8_t *payload, uint32_t cap, uint32_t bytes,
		     uint8_t proto, uint16_t lport, uint16_t rport, int send, uint8_t *out, uint32_t room);
uint32_t xk_eval(const struct xk_table *t, const uint8_t *payload, uint32_t cap, uint8_t proto,
		 uint16_t lport, uint16_t rport, int send, uint8_t *out, uint32_t room);

/* Which ids the kernel extracts for message type 'type' of p in direction dir:
 * a bit mask of (1 << INSITU_XID_*) (bit INSITU_XID_FOLLOW0 stands for all follow
 * ids), or -1 when the kernel cannot classify that type. */
int32_t xk_type_slots(const struct xk_table *t, const struct sem_protocol *p, enum sem_dir dir, int type);

/* "type=T link=... query=..." restricted to the slots in 'mask', for comparing
 * the kernel's and user space's results on the same bytes. */
size_t xk_format(const struct sem_result *r, int32_t mask, char *buf, size_t n);

/* For --payload=ids: the message types that keep their payload, and why, as
 * "http request (ids or outcome need user space), ..." (empty: none). */
size_t xk_payload_kept(const struct xk_table *t, const struct sem_set *set, char *buf, size_t n);

struct bpf_object;
/* Writes the table into the maps of a loaded (not yet attached) observer object.
 * Returns 0 or a negative errno. */
int xk_install(struct bpf_object *obj, const struct xk_table *t);

#endif
