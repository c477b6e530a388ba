#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof *r);
	strmap_init(&r->by_key);
}

void registry_fini(struct registry *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		free(r->regs[i].module);
		free(r->regs[i].name);
	}
	free(r->regs);
	strmap_free(&r->by_key);
	memset(r, 0, sizeof *r);
}

static void mkkey(char *key, size_t n, const char *module, const char *name)
{
	snprintf(key, n, "%s\x1f%s", module, name);
}

uint64_t registry_add(struct registry *r, const char *module, const char *name, int *is_new)
{
	char key[512];
	uintptr_t v;

	*is_new = 0;
	mkkey(key, sizeof key, module, name);
	v = (uintptr_t)strmap_get(&r->by_key, key);
	if (v)
		return REGISTRY_FIRST_HANDLE + v - 1;
	if (r->n >= REGISTRY_MAX)
		return 0;
	if (r->n == r->cap) {
		uint32_t ncap = r->cap ? r->cap * 2 : 16;
		struct registration *n = realloc(r->regs, ncap * sizeof *n);
		if (!n)
			return 0;
		r->regs = n;
		r->cap = ncap;
	}
	r->regs[r->n].module = strdup(module);
	r->regs[r->n].name = strdup(name);
	if (!r->regs[r->n].module || !r->regs[r->n].name ||
	    strmap_put(&r->by_key, key, (void *)(uintptr_t)(r->n + 1))) {
		free(r->regs[r->n].module);
		free(r->regs[r->n].name);
		return 0;
	}
	*is_new = 1;
	return REGISTRY_FIRST_HANDLE + r->n++;
}

int registry_restore(struct registry *r, uint64_t handle, const char *module, const char *name)
{
	int is_new;
	if (handle != REGISTRY_FIRST_HANDLE + r->n)
		return -1;
	return registry_add(r, module, name, &is_new) == handle ? 0 : -1;
}

const struct registration *registry_get(const struct registry *r, uint64_t handle)
{
	if (handle < REGISTRY_FIRST_HANDLE || handle - REGISTRY_FIRST_HANDLE >= r->n)
		return NULL;
	return &r->regs[handle - REGISTRY_FIRST_HANDLE];
}
