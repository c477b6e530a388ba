/* Peer frame encoding and authenticated decoding (see frame.h). */
#include "frame.h"

#include <sodium.h>
#include <string.h>

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void mac(uint8_t out[FRAME_MAC], const uint8_t *bytes, size_t n, const uint8_t key[FRAME_KEY],
		const uint8_t challenge[FRAME_NONCE])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, FRAME_KEY);
	crypto_auth_hmacsha256_update(&st, challenge, FRAME_NONCE);
	crypto_auth_hmacsha256_update(&st, bytes, n);
	crypto_auth_hmacsha256_final(&st, out);
}

size_t frame_encode(uint8_t *out, uint8_t type, uint64_t seq, const void *payload, size_t len,
		    const uint8_t key[FRAME_KEY], const uint8_t challenge[FRAME_NONCE])
{
	size_t total = frame_size(len);

	if (total > FRAME_MAX)
		return 0;
	put_be32(out, (uint32_t)total);
	out[4] = FRAME_VERSION;
	out[5] = type;
	out[6] = out[7] = 0;
	put_be32(out + 8, (uint32_t)(seq >> 32));
	put_be32(out + 12, (uint32_t)seq);
	if (len)
		memcpy(out + FRAME_HDR, payload, len);
	mac(out + FRAME_HDR + len, out, FRAME_HDR + len, key, challenge);
	return total;
}

enum frame_status frame_decode(const uint8_t *buf, size_t n, const uint8_t key[FRAME_KEY],
			       const uint8_t challenge[FRAME_NONCE], struct frame *f, size_t *used,
			       const char **why)
{
	uint8_t want[FRAME_MAC];
	uint32_t total;

	if (n < 4)
		return FRAME_INCOMPLETE;
	total = get_be32(buf);
	if (total < FRAME_MIN || total > FRAME_MAX) {
		*why = "bad frame length";
		return FRAME_BAD;
	}
	if (n >= 6 && buf[4] != FRAME_VERSION) { /* fail fast, before buffering a frame */
		*why = "unsupported frame version";
		return FRAME_BAD;
	}
	if (n < total)
		return FRAME_INCOMPLETE;
	if (buf[5] < 1 || buf[6] || buf[7]) { /* (an unknown type is the caller's to skip) */
		*why = "bad frame type";
		return FRAME_BAD;
	}
	mac(want, buf, total - FRAME_MAC, key, challenge);
	if (sodium_memcmp(want, buf + total - FRAME_MAC, FRAME_MAC) != 0) {
		*why = "authentication failed (wrong key or forged frame)";
		return FRAME_BAD;
	}
	f->type = buf[5];
	f->seq = (uint64_t)get_be32(buf + 8) << 32 | get_be32(buf + 12);
	f->payload = buf + FRAME_HDR;
	f->len = total - FRAME_MIN;
	*used = total;
	return FRAME_OK;
}
