/* Unit tests of insitu-logtail's parts: timestamps and zones, the rules loader and
 * its error messages, the rule tree, subjects, merging and tail -F behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "logtail_eval.h"
#include "logtail_line.h"
#include "logtail_merge.h"
#include "logtail_process.h"
#include "logtail_rules.h"
#include "logtail_tail.h"
#include "logtail_time.h"

#define NS 1000000000ll

static int64_t parse_or_fail(const char *fmt, const char *zone, const char *text)
{
	struct lt_timefmt tf;
	size_t off;
	const char *why;
	assert_true(lt_timefmt_compile(&tf, fmt, &off, &why));
	assert_true(lt_timefmt_set_zone(&tf, zone, &why));
	lt_timefmt_activate(&tf);
	int64_t ns = 0;
	if (!lt_time_parse(&tf, text, strlen(text), 1795000000 * NS, &ns))
		fail_msg("\"%s\" did not parse with \"%s\"", text, fmt);
	return ns;
}

static void test_time_formats(void **state)
{
	(void)state;
	/* ZooKeeper log4j ISO8601 with milliseconds after a comma. */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S,%f", "UTC", "2017-05-26 17:26:04,986"),
			 1495819564 * NS + 986000000);
	/* Fixed offset: 17:26 at +05:30 is 11:56 UTC. */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S", "+05:30", "2017-05-26 17:26:04"),
			 (1495819564 - 19800) * NS);
	/* A zone in the line wins over the configured one. */
	assert_int_equal(parse_or_fail("%Y-%m-%dT%H:%M:%S.%f%z", "+09:00", "2017-05-26T17:26:04.5-0100"),
			 (1495819564 + 3600) * NS + 500000000);
	/* PostgreSQL: "2026-11-22 23:59:01.123 UTC". */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S.%f %Z", "+02:00", "2017-05-26 17:26:04.250 UTC"),
			 1495819564 * NS + 250000000);
	/* nginx error log: "2017/05/26 17:26:04". */
	assert_int_equal(parse_or_fail("%Y/%m/%d %H:%M:%S", "UTC", "2017/05/26 17:26:04"), 1495819564 * NS);
	/* Redis: "26 May 2017 17:26:04.123". */
	assert_int_equal(parse_or_fail("%d %b %Y %H:%M:%S.%f", "UTC", "26 May 2017 17:26:04.123"),
			 1495819564 * NS + 123000000);
	/* Java's "May 26, 2017 5:26:04 PM". */
	assert_int_equal(parse_or_fail("%b %d, %Y %I:%M:%S %p", "UTC", "May 26, 2017 5:26:04 PM"), 1495819564 * NS);
	assert_int_equal(parse_or_fail("%b %d, %Y %I:%M:%S %p", "UTC", "May 26, 2017 12:26:04 AM"),
			 (1495819564 - 17 * 3600) * NS);
	/* Epoch seconds with a fraction. */
	assert_int_equal(parse_or_fail("%s.%f", "UTC", "1495819564.25"), 1495819564 * NS + 250000000);
	/* syslog without a year: the year of "now" (2026-11-18) is taken... */
	assert_int_equal(parse_or_fail("%b %e %H:%M:%S", "UTC", "Nov  2 10:00:00"), 1793613600 * NS);
	/* ...but not one that would be in the future: December is last year's. */
	assert_int_equal(parse_or_fail("%b %e %H:%M:%S", "UTC", "Dec 31 10:00:00"), 1767175200 * NS);
}

static void test_time_zones_named(void **state)
{
	(void)state;
	/* Summer and winter in Berlin: +02:00 then +01:00 (DST from the tz database). */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S", "Europe/Berlin", "2017-05-26 19:26:04"),
			 1495819564 * NS);
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S", "Europe/Berlin", "2017-01-26 18:26:04"),
			 (1495819564 - 120 * 86400) * NS);
	/* India has no DST and a half-hour offset. */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S", "Asia/Kolkata", "2017-05-26 22:56:04"),
			 1495819564 * NS);
	/* The cache is per minute of local time: two lines in one minute, then the next. */
	assert_int_equal(parse_or_fail("%Y-%m-%d %H:%M:%S,%f", "America/New_York", "2017-05-26 13:26:04,000"),
			 1495819564 * NS);
	setenv("TZ", "UTC", 1);
}

static void test_time_rejects(void **state)
{
	(void)state;
	struct lt_timefmt tf;
	size_t off;
	const char *why;
	assert_false(lt_timefmt_compile(&tf, "%Y-%q", &off, &why));
	assert_int_equal(off, 3);
	assert_false(lt_timefmt_compile(&tf, "%H:%M", &off, &why));	/* no day */
	assert_false(lt_timefmt_compile(&tf, "%Y-%m-%d %", &off, &why));
	assert_false(lt_timefmt_set_zone(&tf, "Mars/Olympus", &why));
	assert_false(lt_timefmt_set_zone(&tf, "+25:00", &why));
	assert_false(lt_timefmt_set_zone(&tf, "../../etc/passwd", &why));
	assert_true(lt_timefmt_compile(&tf, "%Y-%m-%d %H:%M:%S", &off, &why));
	assert_true(lt_timefmt_set_zone(&tf, "UTC", &why));
	int64_t ns;
	const char *bad[] = { "2017-13-01 00:00:00", "2017-02-30 00:00:00", "2017-05-26 24:00:00",
			      "2017-05-26 17:26:04x", "2017-05-26", "", "abcd-05-26 17:26:04" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (lt_time_parse(&tf, bad[i], strlen(bad[i]), 0, &ns))
			fail_msg("\"%s\" should not parse", bad[i]);
}

/* Loads rules from a string; returns them, or NULL with the messages in *msgs. */
static struct lt_rules *load(const char *json, char **msgs)
{
	size_t sz;
	FILE *f = open_memstream(msgs, &sz);
	struct lt_rules *r = lt_rules_load_mem("t.json", json, strlen(json), f);
	fclose(f);
	return r;
}

static void expect_error(const char *json, const char *want)
{
	char *msgs = NULL;
	struct lt_rules *r = load(json, &msgs);
	if (r)
		fail_msg("rules should be refused (wanted \"%s\")", want);
	if (!strstr(msgs, want))
		fail_msg("wanted \"%s\" in:\n%s", want, msgs);
	free(msgs);
}

#define LINE "\"line\": \"^(?<level>[A-Z]+) (?<who>\\\\S+) (?<msg>.*)$\""

static void test_rules_errors(void **state)
{
	(void)state;
	/* Unknown key with a suggestion, at its line and column. */
	expect_error("{\n  " LINE ",\n  \"rulez\": []\n}",
		     "t.json:3:3: error: (document): unknown key \"rulez\" (did you mean \"rules\"?)");
	/* JSON syntax error position comes from the parser. */
	expect_error("{\n  " LINE ",\n  \"rules\": [,]\n}", "t.json:3:");
	/* Regex error: the PCRE2 message with the offset in the pattern. */
	expect_error("{\"line\": \"^(?<a>x\", \"rules\": []}", "t.json:1:10: error: line: bad regular expression at offset 7");
	/* A field no pattern defines, with did-you-mean. */
	expect_error("{" LINE ", \"rules\": [{\"when\": {\"field\": \"levle\", \"equals\": \"WARN\"},"
		     " \"report\": {\"metric\": \"m\", \"status\": \"UNHEALTHY\", \"score\": 1}}]}",
		     "rules[0].when.field: unknown field \"levle\" (did you mean \"level\"?)");
	expect_error("{" LINE ", \"rules\": [{\"report\": {\"metric\": \"m\", \"status\": \"SICK\", \"score\": 1}}]}",
		     "rules[0].report.status: unknown status \"SICK\"");
	expect_error("{" LINE ", \"rules\": [{\"report\": {\"metric\": \"m\", \"status\": \"u\", \"score\": 101}}]}",
		     "rules[0].report.score: expected a score between 0 and 100");
	expect_error("{" LINE ", \"rules\": [{\"when\": {\"field\": \"msg\"}, \"report\": {\"metric\": \"m\","
		     " \"status\": \"u\", \"score\": 1}}]}",
		     "rules[0].when: expected exactly one of \"equals\", \"differs\", \"matches\", \"in\" (found 0)");
	expect_error("{" LINE ", \"rules\": [{\"when\": {\"field\": \"msg\", \"equals\": \"x\"}}]}",
		     "rules[0]: expected exactly one of \"report\" (a leaf) or \"rules\" (a branch)");
	expect_error("{" LINE ", \"rules\": [{\"report\": {\"metric\": \"has space\", \"status\": \"u\", \"score\": 1}}]}",
		     "rules[0].report.metric: expected a metric name");
	expect_error("{" LINE ", \"time\": {\"field\": \"msg\", \"format\": \"%Y-%Q\"}, \"rules\": []}",
		     "time.format: unknown directive");
	expect_error("{" LINE ", \"time\": {\"field\": \"tim\", \"format\": \"%s\"}, \"rules\": []}",
		     "time.field: \"tim\" is not a named group of \"line\"");
	expect_error("{" LINE ", \"time\": {\"field\": \"msg\", \"format\": \"%s\", \"zone\": \"Moon/Base\"}, \"rules\": []}",
		     "time.zone: \"Moon/Base\": unknown time zone");
	expect_error("{\"line\": \"^.*$\", \"rules\": []}", "the pattern has no named group");
	expect_error("[]", "(document): expected an object, found array");
	expect_error("{" LINE "}", "missing \"rules\"");
	/* Several errors are all reported in one run. */
	char *msgs = NULL;
	assert_null(load("{" LINE ", \"rules\": [{\"report\": {\"metric\": \"m\", \"status\": \"X\", \"score\": -1,"
			 " \"subjekt\": \"self\"}}]}", &msgs));
	assert_non_null(strstr(msgs, "unknown status"));
	assert_non_null(strstr(msgs, "score"));
	assert_non_null(strstr(msgs, "did you mean \"subject\""));
	free(msgs);
}

static const char TREE[] = "{" LINE ", \"staleness_s\": 0, \"merge_window_ms\": 0,"
	"\"subjects\": {\"10.0.0.13\": \"peer@9\"},"
	"\"rules\": ["
	" {\"name\": \"warn-branch\", \"when\": {\"field\": \"level\", \"in\": [\"WARN\", \"ERROR\"]}, \"rules\": ["
	"   {\"name\": \"conn\", \"when\": {\"field\": \"msg\", \"matches\": \"^conn to (?<peer>\\\\S+) failed\"},"
	"    \"report\": {\"metric\": \"Conn\", \"status\": \"UNHEALTHY\", \"score\": 20,"
	"                 \"subject\": {\"field\": \"peer\", \"map\": true}}},"
	"   {\"name\": \"drop\", \"when\": {\"field\": \"msg\", \"matches\": \"^lost (?<peer>\\\\S+)\"},"
	"    \"report\": {\"metric\": \"Conn\", \"status\": \"DEAD\", \"score\": 0,"
	"                 \"subject\": {\"field\": \"peer\", \"map\": true, \"unmapped\": \"drop\"}}},"
	"   {\"name\": \"not-bob\", \"when\": {\"field\": \"who\", \"differs\": \"bob\"},"
	"    \"report\": {\"metric\": \"Warn\", \"status\": \"MAYBE_UNHEALTHY\", \"score\": 40}}"
	" ]},"
	" {\"name\": \"peer-field-only-here\", \"when\": {\"field\": \"peer\", \"equals\": \"x\"},"
	"  \"report\": {\"metric\": \"Leak\", \"status\": \"u\", \"score\": 1}},"
	" {\"name\": \"info\", \"when\": {\"field\": \"who\", \"equals\": \"bob\"},"
	"  \"report\": {\"metric\": \"Bob\", \"status\": \"HEALTHY\", \"score\": 90, \"subject\": {\"field\": \"who\"}}}"
	"]}";

/* Runs one line through parse + tree + subject; returns the leaf name or "-". */
static const char *run_line(struct lt_rules *r, const char *line, struct insitu_report *rep, int *sres)
{
	struct lt_fields f;
	if (!lt_line_parse(r, line, strlen(line), &f))
		return "unmatched";
	struct lt_node *n = lt_eval(r, &f);
	if (!n)
		return "-";
	memset(rep, 0, sizeof *rep);
	*sres = lt_make_report(r, n->report, &f, "me", rep);
	return n->name;
}

static void test_rule_tree(void **state)
{
	(void)state;
	char *msgs = NULL;
	struct lt_rules *r = load(TREE, &msgs);
	if (!r)
		fail_msg("%s", msgs);
	free(msgs);
	struct insitu_report rep;
	int s;
	assert_string_equal(run_line(r, "WARN x conn to 10.0.0.13 failed", &rep, &s), "conn");
	assert_int_equal(s, LT_SUBJECT_OK);
	assert_string_equal(rep.subject, "peer@9");
	assert_string_equal(rep.observer, "me");
	assert_string_equal(rep.obs.metrics[0].name, "Conn");
	assert_int_equal(rep.obs.metrics[0].value.status, INSITU_UNHEALTHY);
	/* Not in the table: the raw value by default... */
	assert_string_equal(run_line(r, "ERROR x conn to 10.0.0.99 failed", &rep, &s), "conn");
	assert_string_equal(rep.subject, "10.0.0.99");
	/* ...dropped when the rule says so. */
	assert_string_equal(run_line(r, "ERROR x lost 10.0.0.99", &rep, &s), "drop");
	assert_int_equal(s, LT_SUBJECT_DROPPED);
	/* differs */
	assert_string_equal(run_line(r, "WARN alice something", &rep, &s), "not-bob");
	assert_string_equal(rep.subject, "me");
	/* The WARN branch matched, none of its children did: it decides (no report),
	 * the later top-level "info" rule is not tried. */
	assert_string_equal(run_line(r, "WARN bob something", &rep, &s), "-");
	/* Captures of a failed branch do not leak: "peer" is absent here. */
	assert_string_equal(run_line(r, "INFO bob conn to x failed", &rep, &s), "info");
	assert_string_equal(rep.subject, "bob");
	assert_string_equal(run_line(r, "INFO carol hello", &rep, &s), "-");
	assert_string_equal(run_line(r, "not a log line", &rep, &s), "unmatched");
	lt_rules_free(r);
}

static void test_merge(void **state)
{
	(void)state;
	struct lt_merge *m = malloc(sizeof *m);
	lt_merge_init(m, 1 * NS);
	struct insitu_report a = { 0 }, b;
	strcpy(a.observer, "o");
	strcpy(a.subject, "s");
	a.obs.n_metrics = 1;
	strcpy(a.obs.metrics[0].name, "Snapshot");
	a.obs.metrics[0].value = (struct insitu_value){ INSITU_UNHEALTHY, 20 };
	assert_false(lt_merge_repeat(m, &a, 100 * NS));
	assert_true(lt_merge_repeat(m, &a, 100 * NS + 500000000));	/* 0.5 s later: merged */
	assert_true(lt_merge_repeat(m, &a, 100 * NS + 999000000));
	assert_true(lt_merge_repeat(m, &a, 100 * NS - 300000000));	/* slightly out of order */
	assert_false(lt_merge_repeat(m, &a, 101 * NS));		/* window from the last REPORTED */
	assert_true(lt_merge_repeat(m, &a, 101 * NS + 1));
	b = a;
	strcpy(b.subject, "t");					/* another subject: not identical */
	assert_false(lt_merge_repeat(m, &b, 101 * NS + 2));
	b = a;
	b.obs.metrics[0].value.score = 30;				/* another score */
	assert_false(lt_merge_repeat(m, &b, 101 * NS + 3));
	lt_merge_init(m, 0);						/* window 0: never merge */
	assert_false(lt_merge_repeat(m, &a, 5));
	assert_false(lt_merge_repeat(m, &a, 5));
	free(m);
	/* Staleness. */
	assert_false(lt_is_stale(100 * NS, 130 * NS, 60 * NS));
	assert_true(lt_is_stale(100 * NS, 161 * NS, 60 * NS));
	assert_false(lt_is_stale(100 * NS, 1000 * NS, 0));
}

/* The whole per-line path with a JSON-lines sink: staleness against the newest line
 * (replay) or now (live), future lines, merging, subject validation, counters. */
static void test_process_counters(void **state)
{
	(void)state;
	static const char RULES[] = "{\"line\": \"^(?<time>\\\\S+ \\\\S+) (?<who>\\\\S+) (?<msg>.*)$\","
		"\"time\": {\"field\": \"time\", \"format\": \"%Y-%m-%d %H:%M:%S\", \"zone\": \"UTC\"},"
		"\"staleness_s\": 60, \"merge_window_ms\": 1000,"
		"\"rules\": [{\"name\": \"down\", \"when\": {\"field\": \"msg\", \"equals\": \"down\"},"
		"  \"report\": {\"metric\": \"M\", \"status\": \"UNHEALTHY\", \"score\": 20, \"subject\": {\"field\": \"who\"}}}]}";
	char *msgs = NULL;
	struct lt_rules *r = load(RULES, &msgs);
	if (!r)
		fail_msg("%s", msgs);
	free(msgs);
	char *out = NULL;
	size_t outlen;
	FILE *f = open_memstream(&out, &outlen);
	static struct lt_sink sink;
	static struct lt_proc p;
	lt_sink_open(&sink, true, f, NULL, "me");
	lt_proc_init(&p, r, "me", false, &sink);
	const char *lines[] = {
		"2017-05-26 17:26:04 a down",		/* reported */
		"2017-05-26 17:26:04 a down",		/* merged */
		"2017-05-26 17:26:04 b down",		/* other subject: reported */
		"2017-05-26 17:28:00 a down",		/* reported, newest now 17:28 */
		"2017-05-26 17:26:30 c down",		/* 90 s older than the newest: stale */
		"2017-05-26 17:27:30 c down",		/* 30 s older: reported */
		"2017-05-26 17:28:00 \x01x down",	/* invalid subject (not even a field) */
		"2017-05-26 17:28:00 \xc3\xa9 down",	/* non-ASCII subject */
		"2017-05-26 17:28:00 a up",		/* no rule */
		"2017-05-26 17:6:00 a down",		/* bad time */
		"garbage",				/* unmatched */
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		lt_proc_line(&p, NULL, lines[i], strlen(lines[i]));
	lt_sink_flush(&sink);
	fclose(f);
	assert_int_equal(p.c.lines, 11);
	assert_int_equal(p.c.reports, 4);
	assert_int_equal(p.c.merged, 1);
	assert_int_equal(p.c.stale, 1);
	assert_int_equal(p.c.bad_subject, 2);
	assert_int_equal(p.c.no_rule, 1);
	assert_int_equal(p.c.bad_time, 1);
	assert_int_equal(p.c.unmatched, 1);
	assert_non_null(strstr(out, "{\"observer\":\"me\",\"subject\":\"a\",\"ts_us\":1495819564000000,"
				    "\"metrics\":[{\"name\":\"M\",\"status\":\"UNHEALTHY\",\"score\":20}],"
				    "\"source\":{\"file\":\"-\",\"line\":0,\"rule\":\"down\"}}\n"));
	free(out);

	/* Live: against now, and lines well ahead of now are "future". */
	f = fopen("/dev/null", "w");
	lt_sink_open(&sink, true, f, NULL, "me");
	lt_proc_init(&p, r, "me", true, &sink);
	char line[80], stamp[32];
	time_t now = time(NULL);
	time_t when[] = { now, now - 600, now + 600 };
	for (int i = 0; i < 3; i++) {
		struct tm tm;
		gmtime_r(&when[i], &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(line, sizeof line, "%s x%d down", stamp, i);
		lt_proc_line(&p, NULL, line, strlen(line));
	}
	fclose(f);
	assert_int_equal(p.c.reports, 1);
	assert_int_equal(p.c.stale, 1);
	assert_int_equal(p.c.future, 1);
	lt_rules_free(r);
}

/* A pattern that backtracks exponentially costs a bounded time and is counted. */
static void test_regex_limits(void **state)
{
	(void)state;
	char *msgs = NULL;
	struct lt_rules *r = load("{\"line\": \"^(?<a>(x+x+)+[0-9])$\", \"rules\": [{\"report\":"
				  " {\"metric\": \"m\", \"status\": \"h\", \"score\": 1}}]}", &msgs);
	if (!r)
		fail_msg("%s", msgs);
	free(msgs);
	char line[64];
	memset(line, 'x', 40);
	line[40] = 'a';
	struct lt_fields f;
	uint64_t before = lt_regex_errors();
	assert_false(lt_line_parse(r, line, 41, &f));
	assert_int_equal(lt_regex_errors(), before + 1);
	assert_true(lt_line_parse(r, "xxxx7", 5, &f));
	lt_rules_free(r);
}

struct collect {
	char lines[64][64];
	int n;
};

static void collect_line(void *ctx, struct lt_tail *t, const char *line, size_t len)
{
	(void)t;
	struct collect *c = ctx;
	if (c->n < 64)
		snprintf(c->lines[c->n++], 64, "%.*s", (int)len, line);
}

static void append(const char *path, const char *mode, const char *s)
{
	FILE *f = fopen(path, mode);
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void test_tail_rotation_truncation(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_logtail.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], old[140];
	snprintf(path, sizeof path, "%s/app.log", dir);
	snprintf(old, sizeof old, "%s/app.log.1", dir);
	append(path, "w", "before start\n");
	struct lt_tail t;
	struct collect c = { .n = 0 };
	assert_int_equal(lt_tail_open(&t, path, true, false), 0);	/* follow from the end */
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 0);
	append(path, "a", "one\ntw");
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 1);					/* "tw" waits for its newline */
	append(path, "a", "o\r\n");
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.lines[1], "two");
	/* Rotation by rename: a last line lands in the old file after the rename. */
	assert_int_equal(rename(path, old), 0);
	append(old, "a", "three\n");
	lt_tail_poll(&t, true, collect_line, &c);			/* path missing: keep old */
	append(path, "w", "four\n");
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[2], "three");
	assert_string_equal(c.lines[3], "four");
	assert_int_equal(t.rotations, 1);
	/* Truncation in place. */
	append(path, "w", "");
	lt_tail_poll(&t, true, collect_line, &c);
	append(path, "a", "five\n");
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.lines[4], "five");
	assert_int_equal(t.truncations, 1);
	/* An overlong line is counted and skipped; the next one is intact. */
	char *big = malloc(LT_LINE_MAX * 2 + 2);
	memset(big, 'x', LT_LINE_MAX * 2);
	strcpy(big + LT_LINE_MAX * 2, "\n");
	append(path, "a", big);
	append(path, "a", "six\n");
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.lines[5], "six");
	assert_int_equal(t.overlong, 1);
	free(big);
	/* Rewritten in place to exactly the length already read (truncate, then write
	 * before the next poll): caught by the modification time. */
	lt_tail_poll(&t, true, collect_line, &c);
	size_t n = (size_t)t.off;
	char *same = malloc(n + 1);
	memset(same, 'y', n);
	memcpy(same, "seven\n", 6);
	same[n - 1] = '\n';
	same[n] = 0;
	usleep(20000);
	append(path, "w", same);
	lt_tail_poll(&t, true, collect_line, &c);
	assert_int_equal(t.truncations, 2);
	assert_string_equal(c.lines[6], "seven");
	free(same);
	lt_tail_close(&t);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_formats),
		cmocka_unit_test(test_time_zones_named),
		cmocka_unit_test(test_time_rejects),
		cmocka_unit_test(test_rules_errors),
		cmocka_unit_test(test_rule_tree),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_process_counters),
		cmocka_unit_test(test_regex_limits),
		cmocka_unit_test(test_tail_rotation_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
