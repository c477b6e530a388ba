/* libFuzzer target: insitud's configuration file parser (config.c config_parse: the
 * Panorama keys plus insitu's own), over the defaults like insitud does, then the
 * peer key file reader on the same bytes.  Config files are written by operators but
 * parsed as root: a malformed one must give an error, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -2;
	struct config c;
	char err[512], path[64];
	unsigned char key[32];

	if (fd == -2) {
		log_init("fuzz", LOG_ERROR);
		fd = memfd_create("fuzz_key", 0);
	}
	config_defaults(&c);
	err[0] = '\0';
	if (config_parse(&c, (const char *)data, size, "fuzz.json", err, sizeof err) == 0) {
		/* what was accepted is within its bounds */
		if (strnlen(c.id, sizeof c.id) == sizeof c.id || strnlen(c.socket, sizeof c.socket) == sizeof c.socket ||
		    c.npeers > CFG_PEERS_MAX || c.socket_mode > 0777)
			abort();
		for (unsigned i = 0; i < c.npeers; i++)
			if (!strcmp(c.peers[i].id, c.id))
				abort(); /* this instance is never its own peer */
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	config_free(&c);
	/* the same bytes as a key file */
	if (fd >= 0 && size <= 256 && ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		config_read_key(path, key, err, sizeof err);
	}
	return 0;
}
