/* libFuzzer target: the peer frame decoder (frame.c) on raw bytes, and — so that the
 * fuzzer also reaches what lies behind a valid MAC — an encode/decode round trip of
 * the input as a payload, parsed the way the peer code parses REPORTS. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[FRAME_KEY] = "0123456789abcdef0123456789abcdef";
static const uint8_t nonce[FRAME_NONCE] = "fedcba9876543210";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* raw bytes as a stream of frames */
	while (off < size) {
		struct frame f;
		size_t used;
		const char *why;
		enum frame_status st = frame_decode(data + off, size - off, key, nonce, &f, &used, &why);
		if (st != FRAME_OK)
			break;
		off += used;
	}
	/* authenticated round trip */
	if (size >= 1 && size < 65536) {
		uint8_t *buf = malloc(frame_size(size));
		struct frame f;
		size_t used, n;
		const char *why;
		n = frame_encode(buf, (uint8_t)(data[0] % FRAME_TYPE_MAX + 1), size, data + 1, size - 1, key, nonce);
		if (frame_decode(buf, n, key, nonce, &f, &used, &why) != FRAME_OK || used != n || f.len != size - 1 ||
		    memcmp(f.payload, data + 1, size - 1))
			abort();
		buf[n / 2] ^= 1; /* any flipped bit must be caught */
		if (frame_decode(buf, n, key, nonce, &f, &used, &why) == FRAME_OK)
			abort();
		cJSON *j = cJSON_ParseWithLength((const char *)data + 1, size - 1), *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "reports")) {
			struct insitu_report r;
			char err[200];
			insitu_report_from_json(it, NULL, &r, err, sizeof err);
		}
		cJSON_Delete(j);
		free(buf);
	}
	return 0;
}
