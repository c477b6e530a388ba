/* A small JSON DOM parser that remembers where every value and key came from.
 *
 * Why not cJSON: configuration files (semantics, logtail rules) must report errors
 * as file:line:column, and cJSON keeps no positions.  This parser is strict RFC 8259
 * (no comments, no trailing commas), rejects duplicate keys (a silently ignored
 * duplicate in a config file is a bug waiting), bounds nesting depth, and never
 * crashes on outside input: every failure is a positioned message.
 *
 * Positions are 1-based; columns count bytes (a tab is one column). */
#ifndef INSITU_JSON_H
#define INSITU_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define JSON_MAX_DEPTH 64

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_pos {
	int line;
	int col;
};

struct json_value;

struct json_member {
	char *key;			/* NUL-terminated (keys with NUL are rejected) */
	struct json_pos key_pos;
	struct json_value *value;
};

struct json_value {
	enum json_type type;
	struct json_pos pos;		/* first byte of the value */
	union {
		bool boolean;
		struct {
			double num;
			bool is_int;	/* written without fraction/exponent and fits int64 */
			int64_t i;
		} number;
		struct {
			char *s;	/* NUL-terminated; may contain NUL if \u0000 was used */
			size_t len;
		} string;
		struct {
			struct json_value **items;
			size_t n;
		} array;
		struct {
			struct json_member *members;
			size_t n;
		} object;
	} u;
};

struct json_error {
	struct json_pos pos;
	char msg[160];
};

/* Parses exactly one JSON value (surrounded by optional whitespace).  Returns NULL
 * and fills *err on failure. */
struct json_value *json_parse(const char *text, size_t len, struct json_error *err);
void json_free(struct json_value *v);

/* Member of an object by key (NULL if absent or v is not an object). */
const struct json_value *json_get(const struct json_value *v, const char *key);
const struct json_member *json_get_member(const struct json_value *v, const char *key);

/* "null", "boolean", "number", "string", "array", "object". */
const char *json_type_name(enum json_type t);

#endif
