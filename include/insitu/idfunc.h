/* insitu ID-function plugins: the C ABI (version 1).
 *
 * Some ids are too complex for offsets, literals or regular expressions (Rake's
 * example: the DNS query name, encoded as length-prefixed labels with compression
 * pointers).  A semantics file can name a function in a shared library:
 *
 *     "link_id": { "function": "dns_question", "plugin": "insitu-dns.so" }
 *
 * insitu loads the library with dlopen(RTLD_NOW | RTLD_LOCAL) when it loads the
 * semantics, looks up the single exported symbol INSITU_IDFUNC_SYMBOL, checks the
 * ABI version, and finds the function by name in the returned table.  A plugin
 * path without '/' is searched in: $INSITU_PLUGIN_PATH (colon-separated), the
 * directory of the semantics file, <directory of the running program>/plugins.
 *
 * Rules for functions (they run on the observer's hot path):
 *  - pure and reentrant: no global mutable state, no I/O, no allocation per call;
 *  - bounded: look at most at msg[0..cap); never read beyond it;
 *  - write at most 'room' bytes to 'out' and return how many were written;
 *  - return 0 when the message holds no such id, INSITU_IDFUNC_TRUNCATED when the id
 *    lies (partly) beyond the captured bytes.
 * The optional init() is called once per use in a semantics file with the "arg"
 * string of that use (may be NULL); its result is passed back as 'state'.
 *
 * Compatibility: a plugin built against version N works with any insitu that
 * supports N; fields are only ever added at the end, with abi_version bumped.
 *
 * Minimal plugin:
 *
 *     #include <insitu/idfunc.h>
 *     static int64_t first_byte(void *st, const uint8_t *m, size_t cap, uint64_t len,
 *                               uint8_t *out, size_t room)
 *     { if (!cap) return 0; out[0] = m[0]; return 1; }
 *     static const struct insitu_idfunc fns[] = { { "first_byte", NULL, NULL, first_byte } };
 *     INSITU_IDFUNC_EXPORT(fns, "first byte as id");
 */
#ifndef INSITU_IDFUNC_H
#define INSITU_IDFUNC_H

#include <stddef.h>
#include <stdint.h>

#define INSITU_IDFUNC_ABI_VERSION 1
#define INSITU_IDFUNC_SYMBOL "insitu_idfunc_plugin"
#define INSITU_IDFUNC_TRUNCATED (-1)

/* Extracts one id from a message.  msg: the first 'cap' bytes of a 'len'-byte
 * message.  Returns bytes written to out (0 = no id), or INSITU_IDFUNC_TRUNCATED. */
typedef int64_t (*insitu_idfunc_fn)(void *state, const uint8_t *msg, size_t cap, uint64_t len,
				    uint8_t *out, size_t room);

struct insitu_idfunc {
	const char *name;                       /* referenced as "function" in semantics */
	void *(*init)(const char *arg);         /* optional; NULL result is a valid state */
	void (*fini)(void *state);              /* optional */
	insitu_idfunc_fn fn;
};

struct insitu_idfunc_plugin {
	uint32_t abi_version;                   /* INSITU_IDFUNC_ABI_VERSION */
	uint32_t n_funcs;
	const struct insitu_idfunc *funcs;
	const char *description;                /* shown by `insitu-semantics check -v` */
};

#define INSITU_IDFUNC_EXPORT(table, desc)                                                     \
	__attribute__((visibility("default"))) const struct insitu_idfunc_plugin                 \
		insitu_idfunc_plugin = { INSITU_IDFUNC_ABI_VERSION,                              \
					 sizeof(table) / sizeof((table)[0]), (table), (desc) }

#endif
