/* libFuzzer target: insitud's socket request handling (requests.c), one request per
 * input line, against a real store and an in-memory SQLite database. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insitud.h"
#include "log.h"
#include "requests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct insitud d;
	const char *p = (const char *)data, *end = p + size;

	log_init("fuzz", LOG_ERROR);
	memset(&d, 0, sizeof d);
	config_defaults(&d.cfg);
	snprintf(d.cfg.db, sizeof d.cfg.db, ":memory:");
	d.cfg.filter = size & 1;
	if (core_open(&d))
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct answer ans;
		requests_handle(&d, p, len, (int)(size & 2) == 0, &ans);
		if (!ans.text)
			abort();
		free(ans.text);
		free(ans.id);
		core_commit(&d);
		p += len + 1;
	}
	core_close(&d);
	config_free(&d.cfg);
	return 0;
}
