/* libFuzzer: the health thresholds file parser (user/health_cfg.c, --thresholds
 * FILE) on arbitrary bytes.  Must never crash, leak or hang; errors name their place
 * ("fuzz.conf:LINE:COL: ..."), and whatever loads must survive the whole-config check
 * and printing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../user/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct health_cfg c;
	char err[512];
	FILE *null = fopen("/dev/null", "w");

	health_cfg_defaults(&c);
	if (health_cfg_parse(&c, (const char *)data, size, "fuzz.conf", err, sizeof(err))) {
		if (strncmp(err, "fuzz.conf:", 10))
			abort();
	} else if (health_cfg_check(&c, err, sizeof(err)) == 0 && null) {
		health_cfg_print(&c, null);
	}
	if (null)
		fclose(null);
	return 0;
}
