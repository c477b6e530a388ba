/* libFuzzer target: insitu-logtail's rules loader (JSON rules files are outside
 * input).  Must never crash, leak or hang, whatever the bytes. */
#include <stddef.h>
#include <stdint.h>

#include "logtail_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	struct lt_rules *r = lt_rules_load_mem("fuzz.json", (const char *)data, size, NULL);
	if (r) {
		lt_rules_subject(r, "10.0.0.1", 8);
		lt_rules_free(r);
	}
	return 0;
}
