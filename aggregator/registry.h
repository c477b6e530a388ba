/* Observer registration: (module, name) -> handle, handles from 10000 in registration
 * order, the same pair always getting the same handle.  A submission must name a
 * registered handle; the handle's name is the report's default observer. */
#ifndef INSITU_REGISTRY_H
#define INSITU_REGISTRY_H

#include <stdint.h>

#include "strmap.h"

#define REGISTRY_FIRST_HANDLE 10000
#define REGISTRY_MAX 100000 /* bounded: registrations beyond are refused */

struct registration {
	char *module;
	char *name;
};

struct registry {
	struct strmap by_key; /* "module\x1fname" -> index+1 */
	struct registration *regs;
	uint32_t n, cap;
};

void registry_init(struct registry *r);
void registry_fini(struct registry *r);
/* Returns the handle, setting *is_new when it was created now; 0 when the registry is
 * full or out of memory. */
uint64_t registry_add(struct registry *r, const char *module, const char *name, int *is_new);
/* Replay from disk: the handle must be the next one (registrations are never deleted). */
int registry_restore(struct registry *r, uint64_t handle, const char *module, const char *name);
const struct registration *registry_get(const struct registry *r, uint64_t handle);

#endif
