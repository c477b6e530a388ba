/* libFuzzer target: the --replay reader takes files from anywhere.  Inputs that
 * start with the zstd magic go through the real file path (decompression), the
 * others are read as an already decompressed stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../user/observer_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct obs_reader *r)
{
	const void *rec;
	size_t len;
	struct obs_pipeline p = {0};

	while (obs_reader_next(r, &rec, &len) == 1)
		obs_pipeline_feed(&p, rec, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obs_reader r;

	if (size >= 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd) {
		char path[] = "/tmp/insitu-fuzz-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0)
			return 0;
		if (write(fd, data, size) != (ssize_t)size) {
			close(fd);
			unlink(path);
			return 0;
		}
		close(fd);
		if (obs_reader_open(&r, path) == 0)
			drain(&r);
		obs_reader_close(&r);
		unlink(path);
		return 0;
	}
	if (obs_reader_open_raw(&r, "fuzz", data, size) == 0)
		drain(&r);
	obs_reader_close(&r);
	return 0;
}
