/* libFuzzer target: insitu-logtail's rules loader (JSON rules files are outside
 * input).  Must never crash, leak or hang, whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logtail_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Messages are formatted and printed too (to /dev/null): that code sees the
	 * same hostile input. */
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (size > 64 * 1024)
		return 0;
	struct lt_rules *r = lt_rules_load_mem("fuzz.json", (const char *)data, size, devnull);
	if (r) {
		lt_rules_subject(r, "10.0.0.1", 8);
		lt_rules_free(r);
	}
	return 0;
}
