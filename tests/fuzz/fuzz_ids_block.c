/* libFuzzer target: ids blocks come from recordings (--replay, insitu-link), i.e.
 * from anywhere.  Input: [selector][bytes...].
 *   1. the bytes as an ids block: xk_result() for the selected protocol, direction
 *      and truncation must not crash or read beyond the block;
 *   2. the bytes as a payload: the kernel interpreter's C mirror writes a block,
 *      which must decode (xk_result >= 0): a block the kernel writes is never refused.
 * Semantics: the shipped DNS files (the question through insitu-dns.so: raw F_RAW
 * records; INSITU_PLUGIN_PATH from tests/fuzz/fuzz_ids_block.sh) and a
 * kernel-complete HTTP file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../user/extract_kernel.h"
#include "../../user/semantics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sem_set *set;
static struct xk_table table;

static const char http[] =
	"{\"name\":\"http\",\"transport\":\"tcp\",\"ports\":[80],\"framing\":{\"kind\":\"http1\"},"
	"\"messages\":[{\"name\":\"request\",\"role\":\"request\",\"signature\":{\"direction\":"
	"\"to_server\",\"prefix\":[\"GET \",\"POST \"]},\"ids\":{\"link_id\":{\"after\":\" \","
	"\"until\":\" \",\"max\":64},\"follow_ids\":[{\"same_as\":\"link_id\"}]}},{\"name\":"
	"\"response\",\"role\":\"response\",\"signature\":{\"direction\":\"from_server\",\"prefix\":"
	"\"HTTP/\"},\"outcome\":{\"value\":{\"offset\":9,\"length\":3},\"numeric\":true,\"rules\":"
	"[{\"range\":[500,599],\"status\":\"unhealthy\",\"score\":0}],\"default\":{\"status\":"
	"\"healthy\",\"score\":100}}}]}";

static void init(void)
{
	const char *root = getenv("INSITU_ROOT") ? getenv("INSITU_ROOT") : ".";
	static char p1[512], p2[512];
	snprintf(p1, sizeof(p1), "%s/semantics/dns.json", root);
	snprintf(p2, sizeof(p2), "%s/semantics/dns-tcp.json", root);
	const char *paths[] = { p1, p2 };
	struct sem_set *dns = sem_load(paths, 2, NULL);
	struct sem_set *h = sem_load_buffer("http.json", http, sizeof(http) - 1, NULL);
	if (!h)
		abort();
	/* without the plugin (not found), HTTP alone */
	set = dns ? dns : h;
	if (dns)
		sem_free(h);
	xk_compile(set, &table);
	table.flags = INSITU_XC_RAW;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!set)
		init();
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const uint8_t *b = data + 1;
	size_t n = size - 1;
	size_t np = sem_protocol_count(set);
	const struct sem_protocol *p = sem_protocol_at(set, sel % np);
	enum sem_dir dir = (sel >> 4) & 1 ? SEM_FROM_SERVER : SEM_TO_SERVER;
	bool trunc = sel & 0x20;

	/* 1. arbitrary block */
	uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
	if (!copy)
		return 0;
	memcpy(copy, b, n);
	struct sem_result r;
	int k = xk_result(p, dir, copy, n, trunc, &r);
	if (k >= 0 && (r.n_follow > SEM_MAX_FOLLOW || r.link.len > SEM_ID_MAX || r.label[SEM_LABEL_MAX - 1]))
		abort();
	free(copy);

	/* 2. arbitrary payload through the interpreter, its block back */
	const uint16_t *ports;
	sem_protocol_ports(p, &ports);
	uint8_t blk[INSITU_IDS_MAX];
	uint32_t cap = n > INSITU_PAYLOAD_MAX ? INSITU_PAYLOAD_MAX : (uint32_t)n;
	uint32_t bytes = trunc ? cap + 100 : cap;
	uint32_t o = xk_eval_msg(&table, b, cap, bytes, (uint8_t)sem_protocol_transport(p), ports[0], 40000,
				 dir == SEM_FROM_SERVER, blk, sizeof(blk));
	if (o > INSITU_IDS_MAX)
		abort();
	if (o && xk_result(p, dir, blk, o, trunc, &r) < 0)
		abort(); /* the kernel's own blocks always decode */
	return 0;
}
