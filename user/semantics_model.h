/* The in-memory form of a loaded semantics file, shared by the loader
 * (semantics_load.c), the framers (framer.c) and the extractor (extract.c).
 * Not a public API: other parts use semantics.h.  Everything is bounded by the
 * SEMM_* limits; the loader refuses files beyond them with a positioned error. */
#ifndef INSITU_SEMANTICS_MODEL_H
#define INSITU_SEMANTICS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "semantics.h"
#include "insitu/idfunc.h"

#define SEMM_MAX_PORTS 16
#define SEMM_MAX_TYPES 32
#define SEMM_MAX_PREFIXES 16
#define SEMM_MAX_PREDS 8
#define SEMM_PRED_BYTES 16
#define SEMM_MAX_PARTS 8        /* parts of a concatenation */
#define SEMM_MAX_VARIANTS 4     /* length-field variants */
#define SEMM_MAX_BLOCKS 12      /* line framing: data-block rules */
#define SEMM_MAX_RULES 16       /* outcome rules */
#define SEMM_LIT_MAX 64         /* literals: prefixes, 'after', delimiters */
#define SEMM_MAX_OFFSET 65535

/* Bytes at 'offset', ANDed with mask, equal value (negate: must not). */
struct semm_pred {
	uint16_t offset;
	uint8_t len;
	bool negate;
	uint8_t value[SEMM_PRED_BYTES];
	uint8_t mask[SEMM_PRED_BYTES];
};

struct semm_lit {
	uint8_t len;
	bool nocase;
	char s[SEMM_LIT_MAX];
};

#define SEMM_MAX_CONTAINS 4
#define SEMM_CONTAINS_WITHIN 512 /* "contains" looks at most this far into a message */

struct semm_signature {
	uint8_t n_prefix;   /* any of these literal prefixes (0 = no prefix constraint) */
	uint8_t n_contains; /* any of these literals somewhere in the first bytes */
	struct semm_lit contains[SEMM_MAX_CONTAINS];
	uint8_t n_pred;     /* all of these byte predicates */
	uint16_t min_len;
	struct semm_lit prefix[SEMM_MAX_PREFIXES];
	struct semm_pred pred[SEMM_MAX_PREDS];
};

/* A message length stored in the message. */
struct semm_lenfield {
	uint16_t offset;
	uint8_t width;        /* 1, 2, 3, 4 bytes; 0 = MQTT-style varint (1..4 bytes) */
	bool big_endian;
	bool from_field_end;  /* length counts bytes after the field, else from message start */
	int32_t adjust;       /* added to the computed length */
	uint32_t max;         /* larger lengths are corrupt: resync */
};

enum semm_framing_kind {
	SEMM_FR_DATAGRAM = 0,
	SEMM_FR_LINE,
	SEMM_FR_LENGTH,
	SEMM_FR_HTTP1,
	SEMM_FR_RESP,
};

/* Line framing: a line whose first token is 'prefix' is followed by a data block of
 * (token number 'token' as a decimal) + 2 bytes (e.g. memcached "set k 0 0 5\r\n"). */
struct semm_block {
	struct semm_lit prefix;
	uint8_t token;
	char token_prefix;   /* meta commands: the token is "S<n>" -> 'S'; 0 = plain number */
};

struct semm_framing {
	enum semm_framing_kind kind;
	struct semm_lit delim;                 /* line: "\r\n" (default) or "\n" */
	uint32_t max_line;                     /* line/http1 header bound */
	uint8_t n_blocks;
	struct semm_block blocks[SEMM_MAX_BLOCKS];
	uint8_t n_multi;                       /* lines starting with ... continue until 'until' */
	struct semm_lit multi_prefix[SEMM_MAX_BLOCKS];
	struct semm_lit multi_until[SEMM_MAX_BLOCKS];
	struct semm_lenfield len;              /* length framing */
	uint8_t n_variants;
	struct semm_pred variant_when[SEMM_MAX_VARIANTS];
	struct semm_lenfield variant_len[SEMM_MAX_VARIANTS];
};

enum semm_src_kind {
	SEMM_SRC_NONE = 0,
	SEMM_SRC_OFFSET,    /* fixed offset + length (optionally relative to the body) */
	SEMM_SRC_AFTER,     /* token after a literal, up to a delimiter */
	SEMM_SRC_HEADER,    /* HTTP-style "Name: value" header line */
	SEMM_SRC_REGEX,     /* PCRE2 capture group */
	SEMM_SRC_SAME_AS,   /* the value of another id of this message */
	SEMM_SRC_CONCAT,    /* parts joined by a separator */
	SEMM_SRC_FUNCTION,  /* user function from a plugin */
	SEMM_SRC_LSTRING,   /* length-prefixed string: width-byte length then bytes */
	SEMM_SRC_CSTRING,   /* NUL-terminated string at an offset */
};

enum semm_id_slot { SEMM_ID_LINK = 0, SEMM_ID_QUERY, SEMM_ID_RESPONSE, SEMM_ID_FOLLOW0 };

struct semm_src {
	enum semm_src_kind kind;
	/* OFFSET / LSTRING / CSTRING */
	uint32_t offset;
	uint16_t length;        /* OFFSET: bytes; LSTRING: width of the length field */
	bool big_endian;
	bool from_body;         /* offset counted from the end of the framing length field */
	bool skip_lstring;      /* OFFSET: first skip a 2-byte-length string at 'offset' */
	uint8_t mask[8];        /* OFFSET: optional mask (n <= 8) */
	bool has_mask;
	/* AFTER / HEADER */
	struct semm_lit lit;    /* AFTER literal; HEADER name */
	struct semm_lit until;  /* AFTER delimiter (default " ", also stops at CR/LF) */
	uint16_t max;           /* longest token (default SEM_ID_MAX) */
	/* REGEX */
	pcre2_code *re;
	pcre2_match_data *md;
	uint32_t group;
	/* SAME_AS */
	uint8_t same_as;        /* enum semm_id_slot */
	/* CONCAT */
	uint8_t n_parts;
	struct semm_src *parts;
	struct semm_lit sep;
	/* FUNCTION */
	insitu_idfunc_fn fn;
	void *fn_state;
	/* a function with a kernel equivalent (user/extract_kernel.c): the shipped
	 * insitu-dns.so's dns_question, whose DNS header starts at kfn_base (0, or 2
	 * with arg "tcp") */
	uint8_t kfn;            /* enum semm_kfn */
	uint8_t kfn_base;
};

enum semm_kfn { SEMM_KFN_NONE = 0, SEMM_KFN_DNS_QUESTION = 1 };

enum semm_cmp { SEMM_CMP_EQUALS = 0, SEMM_CMP_PREFIX, SEMM_CMP_RANGE };

struct semm_rule {
	enum semm_cmp cmp;
	struct semm_lit text;
	int64_t lo, hi;
	uint8_t status;
	float score;
};

struct semm_outcome {
	bool present;
	struct semm_src value;
	bool numeric;           /* value is a decimal text or binary integer: code = its number */
	uint8_t n_rules;
	struct semm_rule rules[SEMM_MAX_RULES];
	bool has_default;
	uint8_t def_status;
	float def_score;
};

struct semm_type {
	char name[SEM_NAME_MAX];
	enum sem_dir dir;
	uint8_t role;           /* enum sem_role */
	bool fallback;          /* matches only when no other type of its direction does */
	struct semm_signature sig;
	struct semm_src ids[3 + SEM_MAX_FOLLOW];
	uint8_t n_follow;
	struct semm_outcome outcome;
	bool has_label;
	struct semm_src label;
};

struct sem_protocol {
	char name[SEM_NAME_MAX];
	char file[128];
	int transport;          /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t n_ports;
	uint16_t ports[SEMM_MAX_PORTS];
	bool has_detect;
	enum sem_dir detect_dir;
	struct semm_signature detect;
	struct semm_framing framing[2]; /* per enum sem_dir */
	uint8_t n_types;
	struct semm_type types[SEMM_MAX_TYPES];
};

struct semm_plugin {
	char path[256];
	void *handle;
	const struct insitu_idfunc_plugin *desc;
	struct semm_plugin *next;
};

struct sem_set {
	size_t n;
	struct sem_protocol **protos;
	struct semm_plugin *plugins;
};

/* Shared helpers (extract.c). */
bool semm_sig_match(const struct semm_signature *s, const uint8_t *msg, size_t cap);
/* Length of the framing length field's end for 'msg', or 0 if unknown. */
size_t semm_body_offset(const struct sem_protocol *p, enum sem_dir dir, const uint8_t *msg,
			size_t cap);
/* Reads the length field; returns false if not enough bytes.  *total = message
 * length, *field_end = offset after the field. */
bool semm_read_len(const struct semm_lenfield *lf, const uint8_t *b, size_t n, uint64_t *total,
		   size_t *field_end);
const struct semm_lenfield *semm_pick_len(const struct semm_framing *fr, const uint8_t *b, size_t n);
bool semm_pred_match(const struct semm_pred *p, const uint8_t *msg, size_t cap);
void semm_src_free(struct semm_src *s);

#endif
