/* libFuzzer target: one log line (outside input) through insitu-logtail's per-line
 * path: line pattern, timestamp, rule tree with captures, subject mapping, merging,
 * JSON output.  The input is also parsed as a timestamp with every directive. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtail_process.h"
#include "logtail_rules.h"
#include "logtail_submit.h"
#include "logtail_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Exercises every kind of condition, capture, subject policy and a zone with DST. */
static const char RULES[] =
	"{\"program\": \"fuzz\","
	" \"line\": \"^(?<time>\\\\S+ \\\\S+) \\\\[myid:(?<myid>\\\\d*)\\\\] - (?<level>[A-Z]+) +\\\\[(?<thread>.*?):(?<class>[\\\\w$.]+)@(?<srcline>\\\\d+)\\\\] - (?<content>.*)$\","
	" \"time\": {\"field\": \"time\", \"format\": \"%Y-%m-%d %H:%M:%S,%f\", \"zone\": \"Europe/Berlin\"},"
	" \"staleness_s\": 60, \"merge_window_ms\": 1000,"
	" \"subjects\": {\"10.0.0.13\": \"peer@9\", \"9\": \"peer@9\"},"
	" \"rules\": ["
	"  {\"name\": \"a\", \"when\": {\"field\": \"content\", \"matches\": \"^Too busy\"},"
	"   \"report\": {\"metric\": \"Snapshot\", \"status\": \"UNHEALTHY\", \"score\": 20}},"
	"  {\"name\": \"b\", \"when\": [{\"field\": \"level\", \"in\": [\"WARN\", \"ERROR\"]},"
	"     {\"field\": \"content\", \"matches\": \"(?<peer>[0-9.]+):(?<port>\\\\d+)\"}], \"rules\": ["
	"     {\"name\": \"b1\", \"when\": {\"field\": \"port\", \"equals\": \"3888\"},"
	"      \"report\": {\"metric\": \"Q\", \"status\": \"m\", \"score\": 40, \"subject\": {\"field\": \"peer\", \"map\": true}}},"
	"     {\"name\": \"b2\", \"when\": {\"field\": \"class\", \"differs\": \"X\"},"
	"      \"report\": {\"metric\": \"Q\", \"status\": \"u\", \"score\": 10, \"subject\": {\"field\": \"peer\", \"map\": true, \"unmapped\": \"drop\"}}}]},"
	"  {\"name\": \"c\", \"when\": {\"field\": \"myid\", \"matches\": \"^\\\\d\"},"
	"   \"report\": {\"metric\": \"Id\", \"status\": \"h\", \"score\": 90, \"subject\": {\"field\": \"thread\"}}}"
	" ]}";

static const char *const FORMATS[] = {
	"%Y-%m-%d %H:%M:%S,%f", "%Y/%m/%d %H:%M:%S", "%d %b %Y %H:%M:%S.%f", "%b %e %H:%M:%S",
	"%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S.%f %Z", "%b %d, %Y %I:%M:%S %p", "%s.%f", "%y%m%d %H%M%S",
};

static struct lt_rules *rules;
static struct lt_sink sink;
static struct lt_proc proc;
static struct lt_timefmt fmts[sizeof FORMATS / sizeof FORMATS[0]];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rules) {
		rules = lt_rules_load_mem("fuzz-rules", RULES, strlen(RULES), stderr);
		if (!rules)
			abort();
		lt_timefmt_activate(&rules->time);
		lt_sink_open(&sink, true, fopen("/dev/null", "w"), NULL, "fuzz");
		lt_proc_init(&proc, rules, "fuzz", false, &sink);
		for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++) {
			size_t off;
			const char *why;
			if (!lt_timefmt_compile(&fmts[i], FORMATS[i], &off, &why) ||
			    !lt_timefmt_set_zone(&fmts[i], i % 2 ? "UTC" : "local", &why))
				abort();
		}
	}
	if (size > 64 * 1024)
		return 0;
	/* The tailer hands out lines without their newline: so does this. */
	char *line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = 0;
	lt_proc_line(&proc, NULL, line, size);
	int64_t ns;
	for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
		lt_time_parse(&fmts[i], line, size, 1795000000ll * 1000000000ll, &ns);
	free(line);
	return 0;
}
