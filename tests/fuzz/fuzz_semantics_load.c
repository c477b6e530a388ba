/* libFuzzer: the semantics loader (JSON parser with positions + validator) on
 * arbitrary bytes.  Must never crash, leak or hang; when a file loads, its framers
 * and extractor run over the input itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../user/semantics.h"

static void on_frame(void *ctx, const struct sem_frame *fr)
{
	struct sem_result r;
	sem_extract(ctx, SEM_TO_SERVER, fr->data, fr->cap, fr->len, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sem_diags d;
	sem_allow_plugins(false); /* never dlopen paths named by the input */
	struct sem_set *set = sem_load_buffer("fuzz.json", (const char *)data, size, &d);
	if (!set)
		return 0;
	for (size_t i = 0; i < sem_protocol_count(set); i++) {
		const struct sem_protocol *p = sem_protocol_at(set, i);
		for (int dir = 0; dir < 2; dir++) {
			struct sem_framer *f = sem_framer_new(p, (enum sem_dir)dir);
			if (!f)
				continue;
			sem_framer_feed(f, data, size, size, 0, 0, on_frame, (void *)p);
			sem_framer_flush(f, on_frame, (void *)p);
			sem_framer_free(f);
		}
	}
	sem_free(set);
	return 0;
}
