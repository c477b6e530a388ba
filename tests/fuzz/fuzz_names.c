/* libFuzzer: the names file parser (user/names.c, --names FILE) on arbitrary bytes.
 * Must never crash, leak or hang; when the rules load, every kind of name lookup
 * runs against them, and every name handed out must be a valid report name. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../user/names.h"
#include "report.h"

static void check(const char *name)
{
	if (!name || !insitu_name_valid(name, INSITU_NAME_MAX))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 7};
	static const uint8_t lo[16] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 1};
	static const uint8_t v6[16] = {0xfd, [15] = 2};
	struct names *n = names_new();
	char err[512];

	if (!n)
		return 0;
	if (names_load_rules_buffer(n, "fuzz.json", (const char *)data, size, err, sizeof(err))) {
		/* errors name the place: "fuzz.json:LINE:COL: ..." or "fuzz.json: ..." */
		if (strncmp(err, "fuzz.json:", 10))
			abort();
		names_free(n);
		return 0;
	}
	check(names_node(n, 1, 100, "nginx", 0));
	check(names_node(n, 1, 101, "bad name\t", 0));
	check(names_node(n, 2, 200, "python3", 12345));
	names_server_seen(n, 1, 100, "nginx", 0, v4, 80);
	names_server_seen(n, 3, 300, "redis-server", 0, lo, 6379);
	check(names_endpoint(n, 2, v4, 80));
	check(names_endpoint(n, 2, v4, 8443));
	check(names_endpoint(n, 3, lo, 6379));
	check(names_endpoint(n, 2, v6, 53));
	names_client_seen(n, 2, 200, "python3", 12345, v6);
	check(names_remote_client(n, v6));
	check(names_remote_client(n, v4));
	names_free(n);
	return 0;
}
