/* Path records for insitud, with payload-derived text hashed (path_report.h). */
#include "path_report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

#define GET cJSON_GetObjectItemCaseSensitive

int path_privacy_init(struct path_privacy *pp, bool clear, const char *key_file, char *err, size_t errlen)
{
	memset(pp, 0, sizeof *pp);
	pp->clear = clear;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot start");
		return -1;
	}
	if (!key_file) {
		randombytes_buf(pp->key, sizeof pp->key);
		return 0;
	}
	FILE *f = fopen(key_file, "rb");
	size_t n = f ? fread(pp->key, 1, sizeof pp->key, f) : 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", key_file, strerror(errno));
		return -1;
	}
	fclose(f);
	if (n < sizeof pp->key) {
		snprintf(err, errlen, "%s: %zu bytes; a label key needs at least %zu", key_file, n, sizeof pp->key);
		return -1;
	}
	return 0;
}

void path_privacy_hash(const struct path_privacy *pp, const char *text, char *out, size_t n)
{
	uint8_t h[16];
	char hex[33];
	crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text), pp->key, sizeof pp->key);
	sodium_bin2hex(hex, sizeof hex, h, 8);
	snprintf(out, n, "h:%s", hex);
}

static void hash_field(cJSON *hop, const char *name, const struct path_privacy *pp)
{
	cJSON *v = GET(hop, name);
	char h[24];
	if (!cJSON_IsString(v) || !*v->valuestring)
		return;
	path_privacy_hash(pp, v->valuestring, h, sizeof h);
	cJSON_ReplaceItemInObjectCaseSensitive(hop, name, cJSON_CreateString(h));
}

static void hash_hops(cJSON *hop, const struct path_privacy *pp, unsigned depth)
{
	cJSON *c;
	if (depth >= 64)
		return;
	hash_field(hop, "label", pp);
	hash_field(hop, "link_id", pp);
	cJSON_ArrayForEach(c, GET(hop, "children")) hash_hops(c, pp, depth + 1);
}

cJSON *path_report_record(const struct lk_hop *root, const struct path_privacy *pp)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cJSON *j;

	if (!f)
		return NULL;
	path_write_json(f, root);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	j = cJSON_ParseWithLength(text, len);
	/* the clear text is gone from memory once hashed: wipe the buffer */
	sodium_memzero(text, len);
	free(text);
	if (j && !pp->clear)
		hash_hops(GET(j, "root"), pp, 0);
	if (j)
		cJSON_AddBoolToObject(j, "labels_hashed", !pp->clear);
	return j;
}
