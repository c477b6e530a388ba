/* Peer frames: round trip, and every way a frame must be rejected (wrong key, wrong
 * challenge, flipped bits, bad length/version/type, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"

static const uint8_t key[FRAME_KEY] = "0123456789abcdef0123456789abcdef";
static const uint8_t other[FRAME_KEY] = "0123456789abcdef0123456789abcdeF";
static const uint8_t ch[FRAME_NONCE] = "challenge-nonce!";
static const uint8_t ch2[FRAME_NONCE] = "challenge-nonce?";

static size_t mk(uint8_t *buf, const char *payload, uint64_t seq)
{
	return frame_encode(buf, FRAME_REPORTS, seq, payload, strlen(payload), key, ch);
}

static void round_trip(void **st)
{
	uint8_t buf[256];
	struct frame f;
	size_t used, n = mk(buf, "{\"reports\":[]}", 0x0102030405060708ull);
	const char *why = NULL;

	assert_int_equal(n, frame_size(14));
	assert_int_equal(frame_decode(buf, n, key, ch, &f, &used, &why), FRAME_OK);
	assert_int_equal(used, n);
	assert_int_equal(f.type, FRAME_REPORTS);
	assert_true(f.seq == 0x0102030405060708ull);
	assert_int_equal(f.len, 14);
	assert_memory_equal(f.payload, "{\"reports\":[]}", 14);
}

static void incomplete_then_complete(void **st)
{
	uint8_t buf[256];
	struct frame f;
	size_t used, n = mk(buf, "{}", 1);
	const char *why;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(frame_decode(buf, i, key, ch, &f, &used, &why), FRAME_INCOMPLETE);
	assert_int_equal(frame_decode(buf, n, key, ch, &f, &used, &why), FRAME_OK);
}

static void two_frames_in_a_row(void **st)
{
	uint8_t buf[512];
	struct frame f;
	size_t used, n1 = mk(buf, "{\"a\":1}", 1), n2 = mk(buf + n1, "{\"b\":2}", 2);
	const char *why;

	assert_int_equal(frame_decode(buf, n1 + n2, key, ch, &f, &used, &why), FRAME_OK);
	assert_int_equal(used, n1);
	assert_int_equal(frame_decode(buf + used, n2, key, ch, &f, &used, &why), FRAME_OK);
	assert_true(f.seq == 2);
}

static void rejected(void **st)
{
	uint8_t buf[256], bad[256];
	struct frame f;
	size_t used, n = mk(buf, "{\"reports\":[1,2,3]}", 7);
	const char *why;

	why = NULL;
	assert_int_equal(frame_decode(buf, n, other, ch, &f, &used, &why), FRAME_BAD);
	assert_non_null(strstr(why, "authentication"));
	assert_int_equal(frame_decode(buf, n, key, ch2, &f, &used, &why), FRAME_BAD); /* replay elsewhere */
	for (size_t i = 8; i < n; i++) { /* any flipped bit past the length/version/type */
		memcpy(bad, buf, n);
		bad[i] ^= 0x10;
		assert_int_equal(frame_decode(bad, n, key, ch, &f, &used, &why), FRAME_BAD);
	}
	memcpy(bad, buf, n);
	bad[4] = 2; /* version */
	assert_int_equal(frame_decode(bad, n, key, ch, &f, &used, &why), FRAME_BAD);
	assert_string_equal(why, "unsupported frame version");
	memcpy(bad, buf, n);
	bad[5] = 99; /* type */
	assert_int_equal(frame_decode(bad, n, key, ch, &f, &used, &why), FRAME_BAD);
	memcpy(bad, buf, n);
	bad[0] = 0x7f; /* absurd length */
	assert_int_equal(frame_decode(bad, n, key, ch, &f, &used, &why), FRAME_BAD);
	assert_string_equal(why, "bad frame length");
	memset(bad, 0, 8); /* length 0 */
	assert_int_equal(frame_decode(bad, n, key, ch, &f, &used, &why), FRAME_BAD);
}

/* A newer peer's type decodes (the receiver skips it, docs/protocol.md); type 0 never. */
static void unknown_type_authenticated(void **st)
{
	uint8_t buf[256];
	struct frame f;
	size_t used, n = frame_encode(buf, 42, 3, "{}", 2, key, ch);
	const char *why = NULL;

	assert_int_equal(frame_decode(buf, n, key, ch, &f, &used, &why), FRAME_OK);
	assert_int_equal(f.type, 42);
	assert_false(frame_type_known(f.type));
	assert_int_equal(used, n);
	n = frame_encode(buf, 0, 3, "{}", 2, key, ch);
	assert_int_equal(frame_decode(buf, n, key, ch, &f, &used, &why), FRAME_BAD);
	assert_string_equal(why, "bad frame type");
}

static void too_big_to_encode(void **st)
{
	static uint8_t big[FRAME_MAX + 64];
	assert_int_equal(frame_encode(big, FRAME_REPORTS, 0, big, FRAME_MAX, key, ch), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(incomplete_then_complete),
		cmocka_unit_test(two_frames_in_a_row),
		cmocka_unit_test(rejected),
		cmocka_unit_test(unknown_type_authenticated),
		cmocka_unit_test(too_big_to_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
