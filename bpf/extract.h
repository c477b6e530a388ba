/* In-kernel ID extraction: the rule table user space compiles from semantics files,
 * and the ids block the kernel writes into each message event.  Shared by
 * bpf/extract.bpf.h (the interpreter) and user/extract_kernel.c (compiler, decoder
 * and a byte-for-byte C reference of the interpreter).
 *
 * Version INSITU_XR_VERSION; same evolution rules as bpf/observer.h.
 *
 * Rules are evaluated in order for each captured payload (the first bytes of one
 * syscall).  They come in groups, one group per (protocol, message type, signature
 * alternative): the group's first rule (kind SIG) holds the signature; the rules
 * after it with the same group number extract ids.  The first SIG rule whose
 * protocol (transport, server port), direction and signature match the payload
 * decides the group; only that group's id rules run.  This is the same first-match
 * order as user space (fallback types are compiled last).
 *
 * ids block (ev->ids_len bytes, after struct insitu_msg_event):
 *     records [u8 tag][u8 len][len bytes] ...
 *     tag & 0x0f: INSITU_XID_TYPE (1 byte: message-type index, or 2: index and
 *                 the SIG rule's dup bits: ids equal to the link id, not repeated),
 *                 INSITU_XID_LINK,
 *                 _QUERY, _RESPONSE, _FOLLOW0 + i, _OUTCOME (the raw bytes of the
 *                 type's outcome value: user space applies the outcome rules),
 *                 _LABEL (the raw label text)
 *     tag & INSITU_XID_F_RAW (other records): raw bytes for the id's user-space
 *                 function (INSITU_XR_DNSQ)
 *     tag & INSITU_XID_F_ALL (TYPE record only): every id and the outcome of this
 *                 type were extracted here, from the same bytes user space would
 *                 have seen: the payload is not needed for linking ("ids only")
 *     tag & INSITU_XID_F_END: the id ran to the end of the captured bytes (it may
 *                 continue beyond them if the message was truncated)
 *     tag & INSITU_XID_F_CUT: the id was longer than the rule's maximum and was cut
 */
#ifndef INSITU_EXTRACT_H
#define INSITU_EXTRACT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define INSITU_XR_VERSION 2 /* 2: OUTCOME/LABEL tags, SIG sflags, xconf flags */
#define INSITU_XR_MAX 128        /* rules in map "insitu_xrules" */
#define INSITU_XR_MAX_PSETS 16   /* port sets in map "insitu_xpsets" (one per protocol) */
#define INSITU_XR_PORTS 16       /* ports per set */
#define INSITU_XR_CHECKS 3       /* byte checks per signature */
#define INSITU_XR_CHECK_BYTES 16
#define INSITU_XR_LIT 16         /* literal of an AFTER rule */
#define INSITU_XR_ID_MAX 64      /* longest id the kernel extracts */
#define INSITU_XR_WINDOW 512     /* AFTER rules search this far into the payload */

enum insitu_xr_kind {
	INSITU_XR_SIG = 1,     /* group header: signature only */
	INSITU_XR_OFFSET = 2,  /* bytes [off, off+len) (optionally masked) */
	INSITU_XR_AFTER = 3,   /* token after literal 'lit' up to byte 'until' (or CR/LF), <= len bytes */
	INSITU_XR_LSTRING = 4, /* length-prefixed string: lwidth-byte big-endian length at off */
	INSITU_XR_DNSQ = 5,    /* DNS question, raw: from off (= header + 4: the four counts)
	                          through the uncompressed name and the 2-byte type; nothing
	                          if the question count is 0.  Tagged F_RAW: user space
	                          applies insitu-dns.so's dns_question to it */
};

/* Which server side: the rule's port matched the socket's local (we are the server)
 * or remote (we are the client) port; with the syscall direction this gives the
 * message's direction relative to the server. */
enum insitu_xr_dir { INSITU_XR_TO_SERVER = 0, INSITU_XR_FROM_SERVER = 1 };

enum insitu_xid_tag {
	INSITU_XID_TYPE = 0,
	INSITU_XID_LINK = 1,
	INSITU_XID_QUERY = 2,
	INSITU_XID_RESPONSE = 3,
	INSITU_XID_FOLLOW0 = 4, /* .. 4 + 7 */
	INSITU_XID_OUTCOME = 12,
	INSITU_XID_LABEL = 13,
	INSITU_XID_F_ALL = 0x20, /* on the TYPE record; on any other record it means F_RAW */
	INSITU_XID_F_RAW = 0x20, /* the bytes are raw message bytes (from the rule's off) for
	                            user space to run the id's own function on */
	INSITU_XID_F_END = 0x40,
	INSITU_XID_F_CUT = 0x80,
};

struct insitu_xcheck {
	__u16 off;
	__u8 len;      /* 0 = unused */
	__u8 negate;   /* 1: the bytes must NOT match */
	__u8 val[INSITU_XR_CHECK_BYTES];  /* already ANDed with mask; 0 beyond len */
	__u8 mask[INSITU_XR_CHECK_BYTES]; /* 0 beyond len: the kernel compares 16 bytes at once */
};

struct insitu_xrule {
	__u16 group;   /* rules of one signature alternative share it */
	__u8 kind;     /* enum insitu_xr_kind */
	__u8 pset;     /* index into insitu_xpsets: transport + server ports */
	__u8 dir;      /* enum insitu_xr_dir */
	__u8 tag;      /* SIG: message-type index; others: enum insitu_xid_tag slot */
	__u8 lit_len;
	__u8 until;    /* AFTER: delimiter byte */
	__u16 off;
	__u16 len;     /* OFFSET: length; AFTER/LSTRING: longest id */
	__u16 min_len; /* SIG: shortest payload that can match */
	__u8 lwidth;   /* LSTRING: 1 or 2 */
	__u8 has_mask; /* OFFSET: apply mask[] */
	__u8 mask[8];
	__u8 lit[INSITU_XR_LIT];       /* 0 beyond lit_len */
	__u8 lit_mask[INSITU_XR_LIT];  /* 0xff for the literal's bytes, 0 beyond */
	struct insitu_xcheck chk[INSITU_XR_CHECKS]; /* SIG */
	__u8 sflags;   /* SIG: enum insitu_xs_flag */
	__u8 lf_width; /* SIG with INSITU_XS_LEN: the length field's bytes (1-4) */
	__u16 lf_off;  /* ... its offset */
	__u8 lf_le;    /* ... 1: little endian */
	__u8 dup;      /* SIG: ids not extracted because they equal the link id: bit k
	                  follow id k, bit 4 the label; the TYPE record's second byte */
	__u8 rflags;   /* id rules: enum insitu_xf_flag */
	__u8 _pad[1];
	__s32 lf_add;  /* ... message size = field value + lf_add */
};

/* insitu_xrule.sflags of a SIG rule */
enum insitu_xs_flag {
	INSITU_XS_COMPLETE = 1, /* all ids and the outcome of the type compile: TYPE gets F_ALL */
	INSITU_XS_LEN = 2,      /* length-prefixed framing: F_ALL only when the message's
	                           length field says it fills the syscall exactly (one
	                           message, whole), so that "ids only" keeps its boundary */
	INSITU_XS_VARINT = 4,   /* the length field at lf_off is a varint (MQTT): the body
	                           starts after it (base of INSITU_XF_BASE rules), the
	                           message is base + value + lf_add bytes */
};

/* insitu_xrule.rflags of an id rule */
enum insitu_xf_flag {
	INSITU_XF_BASE = 1,  /* off counts from the body (after a varint length field) */
	INSITU_XF_SKIP = 2,  /* OFFSET: first skip a string with a 2-byte length at off */
	INSITU_XF_NOMAX = 4, /* LSTRING: user space takes up to 128 bytes; a longer
	                        string than len makes the block incomplete, not cut */
};

struct insitu_xpset {
	__u8 proto;    /* IPPROTO_TCP / IPPROTO_UDP; 0 = unused */
	__u8 n;
	__u16 ports[INSITU_XR_PORTS];
};

/* map "insitu_xconf", one entry */
struct insitu_xconf {
	__u32 n_rules;
	__u32 version; /* INSITU_XR_VERSION, checked by user space only */
	__u32 flags;   /* enum insitu_xc_flag */
	__u32 _pad;
};

/* insitu_xconf.flags */
enum insitu_xc_flag {
	/* "ids only" (insitu-observer --payload=ids): a message whose TYPE record got
	 * INSITU_XID_F_ALL is sent with its ids block and no payload (cap_len 0,
	 * INSITU_F_IDS_ONLY); every other message keeps its payload prefix. */
	INSITU_XC_IDS_ONLY = 1,
	/* run the raw rules (INSITU_XR_DNSQ).  Their records cost ring-buffer bytes
	 * that only pay off when the payload is dropped: insitu-observer sets this
	 * with --payload=ids only; without it a type with a raw id is not complete
	 * and user space extracts it from the payload as before. */
	INSITU_XC_RAW = 2,
};

#endif
