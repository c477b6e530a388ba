/* Frames between peer aggregators (TCP).  Every frame:
 *
 *   off  size  field
 *   0    4     length of the whole frame, big-endian (FRAME_MIN .. FRAME_MAX)
 *   4    1     version (FRAME_VERSION; anything else is rejected)
 *   5    1     type (enum frame_type)
 *   6    2     reserved, zero
 *   8    8     sequence number, big-endian: 0 for HELLO, then +1 per frame, per
 *              direction and connection (replayed or reordered frames fail)
 *   16   n     payload (JSON text)
 *   16+n 32    HMAC-SHA256(key, challenge || bytes 0 .. 16+n)
 *
 * The challenge is a random 16-byte nonce that the *receiver* sent in its HELLO (all
 * zero in HELLO frames themselves), so a frame recorded on one connection is useless
 * on another.  Decoding checks length, version, MAC (constant time) before anything
 * looks at the payload.
 *
 * Types this build does not know (above FRAME_TYPE_MAX: a newer peer's) decode as
 * FRAME_OK when length, version and MAC are right: their length is known and their
 * origin proven, so the receiver counts and skips them and keeps the connection
 * (docs/protocol.md, "Frame types").  Type 0 and non-zero reserved bytes stay errors. */
#ifndef INSITU_FRAME_H
#define INSITU_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_VERSION 1
#define FRAME_HDR 16
#define FRAME_MAC 32
#define FRAME_MIN (FRAME_HDR + FRAME_MAC)
#define FRAME_MAX (4u << 20)
#define FRAME_NONCE 16
#define FRAME_KEY 32

enum frame_type {
	FRAME_HELLO = 1,   /* {"id": sender id, "nonce": 32 hex digits} */
	FRAME_REPORTS = 2, /* {"reports": [report, ...]} */
	FRAME_RESULTS = 3, /* {"n": count, "accepted": [subject...], "ignored": [subject...]} */
	FRAME_SUB = 4,     /* {"subjects": [s, ...]}: the sender now watches them */
	FRAME_UNSUB = 5,   /* {"subjects": [s, ...]}: the sender stopped watching them */
	FRAME_PING = 6,    /* {} */
	FRAME_PONG = 7,    /* {} */
	FRAME_SEGQ = 8,    /* {"q": query id, "keys": [join key, ...]}: segments continuing these leaves? */
	FRAME_SEGR = 9,    /* {"q": query id, "segments": [path, ...], "truncated": bool} */
};
#define FRAME_TYPE_MAX 9

/* A type this build handles (others are skipped by the receiver, see above). */
static inline int frame_type_known(unsigned type) { return type >= 1 && type <= FRAME_TYPE_MAX; }

struct frame {
	uint8_t type;
	uint64_t seq;
	const uint8_t *payload;
	size_t len;
};

/* Bytes needed to encode a payload of len bytes. */
static inline size_t frame_size(size_t len) { return FRAME_HDR + len + FRAME_MAC; }

/* Writes the frame into out (frame_size(len) bytes).  Returns the size, 0 if too big. */
size_t frame_encode(uint8_t *out, uint8_t type, uint64_t seq, const void *payload, size_t len,
		    const uint8_t key[FRAME_KEY], const uint8_t challenge[FRAME_NONCE]);

enum frame_status { FRAME_OK = 1, FRAME_INCOMPLETE = 0, FRAME_BAD = -1 };

/* Decodes the frame at the start of buf.  FRAME_OK: *f filled, *used = frame size.
 * FRAME_INCOMPLETE: need more bytes.  FRAME_BAD: *why says what was wrong (length,
 * version, type 0 or reserved bits, MAC); the connection must be dropped.  f->type
 * may be unknown (frame_type_known()).  The sequence number is not
 * checked here (the caller knows what it expects). */
enum frame_status frame_decode(const uint8_t *buf, size_t n, const uint8_t key[FRAME_KEY],
			       const uint8_t challenge[FRAME_NONCE], struct frame *f, size_t *used,
			       const char **why);

#endif
