/* Unit tests for common/json: values, positions, and every error path a config
 * author can hit, each with its exact line:column. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static struct json_value *parse(const char *s, struct json_error *e)
{
	return json_parse(s, strlen(s), e);
}

static void test_values_and_positions(void **state)
{
	(void)state;
	struct json_error e;
	const char *t = "{\n  \"a\": [1, -2.5e1, true, false, null],\n\t\"b\": \"x\\u00e9\\ud83d\\ude00\\n\"\n}";
	struct json_value *v = parse(t, &e);
	assert_non_null(v);
	assert_int_equal(v->type, JSON_OBJECT);
	assert_int_equal(v->u.object.n, 2);
	const struct json_member *a = json_get_member(v, "a");
	assert_non_null(a);
	assert_int_equal(a->key_pos.line, 2);
	assert_int_equal(a->key_pos.col, 3);
	assert_int_equal(a->value->pos.line, 2);
	assert_int_equal(a->value->pos.col, 8);
	assert_int_equal(a->value->u.array.n, 5);
	const struct json_value *one = a->value->u.array.items[0];
	assert_true(one->u.number.is_int);
	assert_int_equal(one->u.number.i, 1);
	assert_int_equal(one->pos.col, 9);
	const struct json_value *f = a->value->u.array.items[1];
	assert_false(f->u.number.is_int);
	assert_true(f->u.number.num == -25.0);
	assert_true(a->value->u.array.items[2]->u.boolean);
	assert_false(a->value->u.array.items[3]->u.boolean);
	assert_int_equal(a->value->u.array.items[4]->type, JSON_NULL);
	const struct json_member *b = json_get_member(v, "b");
	assert_int_equal(b->key_pos.line, 3);
	assert_int_equal(b->key_pos.col, 2); /* tab counts as one column */
	assert_string_equal(b->value->u.string.s, "x\xc3\xa9\xf0\x9f\x98\x80\n");
	assert_int_equal(b->value->u.string.len, 8);
	assert_null(json_get(v, "zz"));
	json_free(v);
}

struct bad_case {
	const char *text;
	int line, col;
	const char *msg;
};

static const struct bad_case bad[] = {
	{ "", 1, 1, "expected a value, found end of input" },
	{ "{\"a\":1,}", 1, 8, "trailing comma before '}'" },
	{ "[1,]", 1, 4, "trailing comma before ']'" },
	{ "{\"a\" 1}", 1, 6, "expected ':' after object key, found '1'" },
	{ "{\"a\":1 \"b\":2}", 1, 8, "expected ',' or '}' in object, found '\"'" },
	{ "[1 2]", 1, 4, "expected ',' or ']' in array, found '2'" },
	{ "{\n\"a\":1,\n\"a\":2}", 3, 1, "duplicate key \"a\" (first at line 2, column 1)" },
	{ "\"abc", 1, 1, "unterminated string" },
	{ "\"a\\qb\"", 1, 3, "invalid escape '\\q'" },
	{ "\"\\u12\"", 1, 6, "expected 4 hex digits after \\u" },
	{ "\"\\ud800x\"", 1, 2, "unpaired UTF-16 high surrogate" },
	{ "\"\\udc00\"", 1, 2, "unpaired UTF-16 low surrogate" },
	{ "\"a\nb\"", 1, 3, "control character 0x0a in string (escape it)" },
	{ "01", 1, 1, "leading zeros are not allowed in numbers" },
	{ "1.", 1, 3, "expected a digit after '.'" },
	{ "1e", 1, 3, "expected a digit in exponent" },
	{ "-", 1, 2, "expected a digit" },
	{ "tru", 1, 1, "invalid literal (expected 'true')" },
	{ "nul", 1, 1, "invalid literal (expected 'null')" },
	{ "{} x", 1, 4, "unexpected 'x' after the JSON value" },
	{ "{1:2}", 1, 2, "expected a string key in object, found '1'" },
	{ "// c\n{}", 1, 1, "expected a value, found '/'" },
	{ "1e999", 1, 1, "number out of range" },
	{ "{\"a\\u0000b\":1}", 1, 2, "object key contains a NUL character" },
	{ "\x01", 1, 1, "expected a value, found byte 0x01" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_error e;
		struct json_value *v = parse(bad[i].text, &e);
		if (v) {
			json_free(v);
			fail_msg("case %zu parsed but should not: %s", i, bad[i].text);
		}
		if (e.pos.line != bad[i].line || e.pos.col != bad[i].col || strcmp(e.msg, bad[i].msg))
			fail_msg("case %zu: got %d:%d %s, want %d:%d %s", i, e.pos.line, e.pos.col, e.msg,
				 bad[i].line, bad[i].col, bad[i].msg);
	}
}

static void test_depth_limit(void **state)
{
	(void)state;
	char buf[200];
	memset(buf, '[', sizeof(buf));
	struct json_error e;
	assert_null(json_parse(buf, sizeof(buf), &e));
	assert_string_equal(e.msg, "nesting deeper than 64 levels");
	assert_int_equal(e.pos.col, 66);
	/* exactly at the limit still parses */
	char ok[2 * 65];
	memset(ok, '[', 65);
	memset(ok + 65, ']', 65);
	struct json_value *v = json_parse(ok, sizeof(ok), &e);
	assert_non_null(v);
	json_free(v);
}

static void test_bom_and_big_ints(void **state)
{
	(void)state;
	struct json_error e;
	struct json_value *v = parse("\xef\xbb\xbf [9007199254740993, 99999999999999999999]", &e);
	assert_non_null(v);
	assert_int_equal(v->pos.col, 2);
	assert_true(v->u.array.items[0]->u.number.is_int);
	assert_true(v->u.array.items[0]->u.number.i == 9007199254740993LL);
	assert_false(v->u.array.items[1]->u.number.is_int); /* does not fit int64 */
	json_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_positions),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_bom_and_big_ints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
