/* Writing the compiled rule table into the observer's maps (bpf/extract.bpf.h).
 * Separate from extract_kernel.c so that the compiler and decoder link without
 * libbpf (unit tests, fuzzing, benchmark). */
#include "extract_kernel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int xk_install(struct bpf_object *obj, const struct xk_table *t)
{
	int rules = map_fd(obj, "insitu_xrules"), psets = map_fd(obj, "insitu_xpsets"),
	    conf = map_fd(obj, "insitu_xconf");
	if (rules < 0 || psets < 0 || conf < 0)
		return -ENOENT;
	for (uint32_t i = 0; i < t->n_psets; i++)
		if (bpf_map_update_elem(psets, &i, &t->psets[i], BPF_ANY))
			return -errno;
	for (uint32_t i = 0; i < t->n_rules; i++)
		if (bpf_map_update_elem(rules, &i, &t->rules[i], BPF_ANY))
			return -errno;
	/* the count last: the kernel never sees a half-written table */
	uint32_t zero = 0;
	struct insitu_xconf c = { .n_rules = t->n_rules, .version = INSITU_XR_VERSION, .flags = t->flags };
	if (bpf_map_update_elem(conf, &zero, &c, BPF_ANY))
		return -errno;
	return 0;
}
