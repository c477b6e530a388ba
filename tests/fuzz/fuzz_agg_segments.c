/* libFuzzer target: insitud's path segment parsers of outside input — the
 * "submit_paths" record (from local observers), the SEGQ request and the SEGR answer
 * (from authenticated peers) — and what they feed: the bounded store, the index by
 * join key and stitching.  The first byte picks the entry point; the rest is the
 * payload.  Peers are absent (peers_seg_query below answers "nobody up"), so a paths
 * query ends at once, partial. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "segments.h"
#include "segments_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void peers_seg_query(struct peers *p, const char *payload, size_t len,
		     void (*fn)(void *arg, const char *peer, int asked), void *arg)
{
	(void)p;
	(void)payload;
	(void)len;
	fn(arg, "b", 0);
}

static struct segments *g;
static uint64_t now = 1000;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[300];
	const char *code;
	size_t outlen;
	cJSON *req, *ans;
	char *s;

	static unsigned runs;
	/* kept across inputs, so that indexes, eviction and stitching see what earlier
	 * inputs stored; renewed now and then to keep each run fast */
	if (g && ++runs % 512 == 0) {
		segments_free(g);
		g = NULL;
	}
	if (!g)
		g = segments_new(NULL);
	if (size < 1 || !g)
		return 0;
	now += 100;
	switch (data[0] % 4) {
	case 0: /* submit_paths request line */
		req = cJSON_ParseWithLength((const char *)data + 1, size - 1);
		ans = cJSON_CreateObject();
		segments_op_submit(g, "obs", req, ans, err, sizeof err, now);
		cJSON_Delete(ans);
		cJSON_Delete(req);
		break;
	case 1: /* SEGQ payload from a peer */
		s = segments_peer_serve(g, data + 1, size - 1, &outlen);
		free(s);
		break;
	case 2: /* SEGR payload from a peer */
		segments_peer_answer(g, "b", data + 1, size - 1);
		break;
	default: /* a paths query */
		req = cJSON_ParseWithLength((const char *)data + 1, size - 1);
		ans = cJSON_CreateObject();
		if (req && !segments_op_paths(g, (struct peers *)1, req, ans, &code, err, sizeof err, now)) {
			s = cJSON_PrintUnformatted(ans);
			free(s);
		}
		cJSON_Delete(ans);
		cJSON_Delete(req);
		break;
	}
	return 0;
}
