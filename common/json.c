/* JSON parser with positions: see json.h for why it exists.  Recursive descent,
 * depth-bounded; every allocation failure or malformed byte becomes a json_error. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	int line;
	const char *line_start;
	struct json_error *err;
	bool failed;
};

static struct json_pos here(const struct parser *ps)
{
	return (struct json_pos){ ps->line, (int)(ps->p - ps->line_start) + 1 };
}

__attribute__((format(printf, 3, 4)))
static void fail_at(struct parser *ps, struct json_pos pos, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	if (!ps->err)
		return;
	ps->err->pos = pos;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
}

/* Describes the byte at the cursor for "unexpected X" messages. */
static void describe(const struct parser *ps, char *buf, size_t n)
{
	if (ps->p >= ps->end)
		snprintf(buf, n, "end of input");
	else if (*ps->p >= 0x20 && *ps->p < 0x7f)
		snprintf(buf, n, "'%c'", *ps->p);
	else
		snprintf(buf, n, "byte 0x%02x", (unsigned char)*ps->p);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end) {
		char c = *ps->p;
		if (c == '\n') {
			ps->line++;
			ps->p++;
			ps->line_start = ps->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else {
			break;
		}
	}
}

static struct json_value *new_value(struct parser *ps, enum json_type t, struct json_pos pos)
{
	struct json_value *v = calloc(1, sizeof(*v));
	if (!v) {
		fail_at(ps, pos, "out of memory");
		return NULL;
	}
	v->type = t;
	v->pos = pos;
	return v;
}

static struct json_value *parse_value(struct parser *ps, int depth);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		if (ps->p >= ps->end || hexval(*ps->p) < 0) {
			fail_at(ps, here(ps), "expected 4 hex digits after \\u");
			return false;
		}
		v = v * 16 + (unsigned)hexval(*ps->p++);
	}
	*out = v;
	return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Cursor on the opening quote.  The decoded string is never longer than the
 * source text, so one allocation of the raw length suffices. */
static char *parse_string(struct parser *ps, size_t *len_out)
{
	struct json_pos start = here(ps);
	ps->p++;
	const char *q = ps->p;
	while (q < ps->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	size_t cap = (size_t)(q - ps->p) + 1;
	char *out = malloc(cap + 4);
	if (!out) {
		fail_at(ps, start, "out of memory");
		return NULL;
	}
	size_t n = 0;
	for (;;) {
		if (ps->p >= ps->end) {
			fail_at(ps, start, "unterminated string");
			goto bad;
		}
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20) {
			fail_at(ps, here(ps), "control character 0x%02x in string (escape it)", c);
			goto bad;
		}
		if (c != '\\') {
			out[n++] = (char)c;
			ps->p++;
			continue;
		}
		struct json_pos esc = here(ps);
		ps->p++;
		if (ps->p >= ps->end) {
			fail_at(ps, start, "unterminated string");
			goto bad;
		}
		char e = *ps->p++;
		switch (e) {
		case '"': out[n++] = '"'; break;
		case '\\': out[n++] = '\\'; break;
		case '/': out[n++] = '/'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			unsigned cp;
			if (!read_hex4(ps, &cp))
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
					fail_at(ps, esc, "unpaired UTF-16 high surrogate");
					goto bad;
				}
				ps->p += 2;
				if (!read_hex4(ps, &lo))
					goto bad;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail_at(ps, esc, "unpaired UTF-16 high surrogate");
					goto bad;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail_at(ps, esc, "unpaired UTF-16 low surrogate");
				goto bad;
			}
			/* \uXXXX is 6 source bytes, at most 4 output bytes; a pair is 12 -> 4 */
			n += put_utf8(out + n, cp);
			break;
		}
		default:
			fail_at(ps, esc, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
			goto bad;
		}
	}
	out[n] = '\0';
	*len_out = n;
	return out;
bad:
	free(out);
	return NULL;
}

static struct json_value *parse_number(struct parser *ps)
{
	struct json_pos pos = here(ps);
	const char *s = ps->p;
	bool is_int = true;
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
		fail_at(ps, here(ps), "expected a digit");
		return NULL;
	}
	if (*ps->p == '0') {
		ps->p++;
		if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
			fail_at(ps, pos, "leading zeros are not allowed in numbers");
			return NULL;
		}
	} else {
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		is_int = false;
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
			fail_at(ps, here(ps), "expected a digit after '.'");
			return NULL;
		}
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		is_int = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
			fail_at(ps, here(ps), "expected a digit in exponent");
			return NULL;
		}
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	char buf[64];
	size_t n = (size_t)(ps->p - s);
	if (n >= sizeof(buf)) {
		fail_at(ps, pos, "number too long");
		return NULL;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	struct json_value *v = new_value(ps, JSON_NUMBER, pos);
	if (!v)
		return NULL;
	v->u.number.num = strtod(buf, NULL);
	if (is_int) {
		errno = 0;
		long long ll = strtoll(buf, NULL, 10);
		if (errno == 0) {
			v->u.number.is_int = true;
			v->u.number.i = ll;
		}
	}
	if (!isfinite(v->u.number.num)) {
		fail_at(ps, pos, "number out of range");
		free(v);
		return NULL;
	}
	return v;
}

static bool expect_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) {
		fail_at(ps, here(ps), "invalid literal (expected '%s')", w);
		return false;
	}
	ps->p += n;
	return true;
}

static struct json_value *parse_array(struct parser *ps, int depth)
{
	struct json_value *v = new_value(ps, JSON_ARRAY, here(ps));
	if (!v)
		return NULL;
	ps->p++;
	size_t cap = 0;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return v;
	}
	for (;;) {
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') {
			fail_at(ps, here(ps), "trailing comma before ']'");
			goto bad;
		}
		struct json_value *item = parse_value(ps, depth + 1);
		if (!item)
			goto bad;
		if (v->u.array.n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			void *ni = realloc(v->u.array.items, nc * sizeof(*v->u.array.items));
			if (!ni) {
				json_free(item);
				fail_at(ps, v->pos, "out of memory");
				goto bad;
			}
			v->u.array.items = ni;
			cap = nc;
		}
		v->u.array.items[v->u.array.n++] = item;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return v;
		}
		char d[32];
		describe(ps, d, sizeof(d));
		fail_at(ps, here(ps), "expected ',' or ']' in array, found %s", d);
		goto bad;
	}
bad:
	json_free(v);
	return NULL;
}

static struct json_value *parse_object(struct parser *ps, int depth)
{
	struct json_value *v = new_value(ps, JSON_OBJECT, here(ps));
	if (!v)
		return NULL;
	ps->p++;
	size_t cap = 0;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return v;
	}
	for (;;) {
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"') {
			char d[32];
			describe(ps, d, sizeof(d));
			if (ps->p < ps->end && *ps->p == '}')
				fail_at(ps, here(ps), "trailing comma before '}'");
			else
				fail_at(ps, here(ps), "expected a string key in object, found %s", d);
			goto bad;
		}
		struct json_pos kpos = here(ps);
		size_t klen;
		char *key = parse_string(ps, &klen);
		if (!key)
			goto bad;
		if (strlen(key) != klen) {
			fail_at(ps, kpos, "object key contains a NUL character");
			free(key);
			goto bad;
		}
		for (size_t i = 0; i < v->u.object.n; i++) {
			if (strcmp(v->u.object.members[i].key, key) == 0) {
				fail_at(ps, kpos, "duplicate key \"%.60s\" (first at line %d, column %d)", key,
					v->u.object.members[i].key_pos.line, v->u.object.members[i].key_pos.col);
				free(key);
				goto bad;
			}
		}
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			char d[32];
			describe(ps, d, sizeof(d));
			fail_at(ps, here(ps), "expected ':' after object key, found %s", d);
			free(key);
			goto bad;
		}
		ps->p++;
		skip_ws(ps);
		struct json_value *item = parse_value(ps, depth + 1);
		if (!item) {
			free(key);
			goto bad;
		}
		if (v->u.object.n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			void *nm = realloc(v->u.object.members, nc * sizeof(*v->u.object.members));
			if (!nm) {
				free(key);
				json_free(item);
				fail_at(ps, v->pos, "out of memory");
				goto bad;
			}
			v->u.object.members = nm;
			cap = nc;
		}
		v->u.object.members[v->u.object.n++] = (struct json_member){ key, kpos, item };
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return v;
		}
		char d[32];
		describe(ps, d, sizeof(d));
		fail_at(ps, here(ps), "expected ',' or '}' in object, found %s", d);
		goto bad;
	}
bad:
	json_free(v);
	return NULL;
}

static struct json_value *parse_value(struct parser *ps, int depth)
{
	skip_ws(ps);
	if (depth > JSON_MAX_DEPTH) {
		fail_at(ps, here(ps), "nesting deeper than %d levels", JSON_MAX_DEPTH);
		return NULL;
	}
	struct json_pos pos = here(ps);
	if (ps->p >= ps->end) {
		fail_at(ps, pos, "expected a value, found end of input");
		return NULL;
	}
	struct json_value *v;
	switch (*ps->p) {
	case '{':
		return parse_object(ps, depth);
	case '[':
		return parse_array(ps, depth);
	case '"': {
		size_t len;
		char *s = parse_string(ps, &len);
		if (!s)
			return NULL;
		v = new_value(ps, JSON_STRING, pos);
		if (!v) {
			free(s);
			return NULL;
		}
		v->u.string.s = s;
		v->u.string.len = len;
		return v;
	}
	case 't':
	case 'f': {
		bool truth = *ps->p == 't';
		if (!expect_word(ps, truth ? "true" : "false"))
			return NULL;
		v = new_value(ps, JSON_BOOL, pos);
		if (v)
			v->u.boolean = truth;
		return v;
	}
	case 'n':
		if (!expect_word(ps, "null"))
			return NULL;
		return new_value(ps, JSON_NULL, pos);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps);
		char d[32];
		describe(ps, d, sizeof(d));
		fail_at(ps, pos, "expected a value, found %s", d);
		return NULL;
	}
}

struct json_value *json_parse(const char *text, size_t len, struct json_error *err)
{
	struct parser ps = { .p = text, .end = text + len, .line = 1, .line_start = text, .err = err };
	if (err) {
		err->pos = (struct json_pos){ 1, 1 };
		err->msg[0] = '\0';
	}
	/* a UTF-8 byte order mark is tolerated: editors add it */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		ps.p += 3;
		ps.line_start = ps.p;
	}
	struct json_value *v = parse_value(&ps, 0);
	if (!v)
		return NULL;
	skip_ws(&ps);
	if (ps.p < ps.end) {
		char d[32];
		describe(&ps, d, sizeof(d));
		fail_at(&ps, here(&ps), "unexpected %s after the JSON value", d);
		json_free(v);
		return NULL;
	}
	return v;
}

void json_free(struct json_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case JSON_STRING:
		free(v->u.string.s);
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < v->u.array.n; i++)
			json_free(v->u.array.items[i]);
		free(v->u.array.items);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < v->u.object.n; i++) {
			free(v->u.object.members[i].key);
			json_free(v->u.object.members[i].value);
		}
		free(v->u.object.members);
		break;
	default:
		break;
	}
	free(v);
}

const struct json_member *json_get_member(const struct json_value *v, const char *key)
{
	if (!v || v->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->u.object.n; i++)
		if (strcmp(v->u.object.members[i].key, key) == 0)
			return &v->u.object.members[i];
	return NULL;
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
	const struct json_member *m = json_get_member(v, key);
	return m ? m->value : NULL;
}

const char *json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_BOOL: return "boolean";
	case JSON_NUMBER: return "number";
	case JSON_STRING: return "string";
	case JSON_ARRAY: return "array";
	case JSON_OBJECT: return "object";
	}
	return "?";
}
