/* The observer's later stages, set up from its command line: the semantics engine
 * (framing, ids), the Rake linker (request paths) and the health stage (Panorama
 * reports to insitud).  Kept out of observer.c so that the capture front end and
 * these stages evolve apart; observer.c only forwards options and calls the four
 * functions below.
 *
 *   --semantics PATH     file or directory of *.json (repeatable; default: the shipped
 *                        semantics when any stage needs them)
 *   --paths[=json|tree]  print completed request paths
 *   --report             send health reports to insitud (--socket PATH)
 *   --health             print health reports as JSON lines
 *   --names FILE         component name overrides (docs/health.md)
 *   --window MS          health window (default 1000)
 *   --all-ports          do not restrict capture to the semantics' server ports
 *   --report-paths       also send completed paths to insitud (implies --report);
 *                        labels hashed unless --clear-labels; --label-key FILE
 */
#ifndef INSITU_OBSERVER_STAGES_H
#define INSITU_OBSERVER_STAGES_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "observer_sink.h"

#define STAGES_MAX_SEM 32

enum stages_opt {
	STG_FIRST = 0x1000,
	STG_SEMANTICS = STG_FIRST,
	STG_PATHS,
	STG_REPORT,
	STG_SOCKET,
	STG_HEALTH,
	STG_NAMES,
	STG_WINDOW,
	STG_ALL_PORTS,
	STG_REPORT_PATHS,
	STG_CLEAR_LABELS,
	STG_LABEL_KEY,
	STG_THRESHOLDS,
	STG_THRESHOLD,
	STG_LAST,
};

/* Entries for the observer's getopt_long table. */
#define STAGES_LONG_OPTIONS                                                                  \
	{"semantics", required_argument, 0, STG_SEMANTICS},                                  \
	{"paths", optional_argument, 0, STG_PATHS}, {"report", no_argument, 0, STG_REPORT},  \
	{"socket", required_argument, 0, STG_SOCKET}, {"health", no_argument, 0, STG_HEALTH}, \
	{"names", required_argument, 0, STG_NAMES}, {"window", required_argument, 0, STG_WINDOW}, \
	{"all-ports", no_argument, 0, STG_ALL_PORTS},                                        \
	{"report-paths", no_argument, 0, STG_REPORT_PATHS},                                  \
	{"clear-labels", no_argument, 0, STG_CLEAR_LABELS},                                  \
	{"label-key", required_argument, 0, STG_LABEL_KEY},                                  \
	{"thresholds", required_argument, 0, STG_THRESHOLDS},                                \
	{"threshold", required_argument, 0, STG_THRESHOLD}

#define STAGES_USAGE                                                                           \
	"Semantics, request paths and health (see docs/semantics.md, paths.md, health.md):\n" \
	"      --semantics PATH   protocol semantics: a file or a directory of *.json\n"     \
	"                         (repeatable; default: the shipped semantics/ when a\n"     \
	"                         stage below needs them).  Invalid files: no start.\n"      \
	"      --paths[=FORMAT]   print completed request paths: json (default, one per\n"   \
	"                         line) or tree (indented, for humans)\n"                     \
	"      --report           send health reports to insitud (the aggregator)\n"          \
	"      --socket PATH      insitud's socket (default $INSITUD_SOCKET or\n"             \
	"                         /run/insitu/insitud.sock)\n"                                \
	"      --health           print health reports as JSON lines on stdout\n"             \
	"      --names FILE       component name overrides (JSON rules)\n"                    \
	"      --window MS        health window, 100-60000 ms (default 1000)\n"               \
	"      --thresholds FILE  health thresholds, one \"key = value\" per line (# comments)\n" \
	"      --threshold K=V    one threshold (repeatable, after --thresholds), e.g.\n"   \
	"                         latency_floor=50ms, error_maybe=10%, timeout=2s;\n"        \
	"                         --threshold help lists every key (docs/health.md)\n"       \
	"      --all-ports        capture every port, not only the semantics' server ports\n" \
	"      --report-paths     also send completed request paths to insitud, where the\n" \
	"                         paths seen by other observers are joined to them\n"    \
	"                         (implies --report; `insitu paths` queries them)\n"      \
	"      --clear-labels     send hop labels and ids derived from payload (\"GET /x\",\n" \
	"                         DNS names) in clear; default: keyed hashes (h:...)\n"   \
	"      --label-key FILE   hash key (first 32 bytes of FILE; default: random per\n" \
	"                         run): the same file on every host makes hashes comparable\n"

struct stages_opts {
	const char *sem[STAGES_MAX_SEM];
	int n_sem;
	int paths;      /* 0 none, 1 json, 2 tree */
	bool report, health, all_ports, report_paths, clear_labels;
	const char *socket, *names, *label_key;
	uint64_t window_ms;
	const char *thresholds;                  /* --thresholds FILE */
	const char *threshold[STAGES_MAX_SEM];   /* --threshold KEY=VALUE, in order */
	int n_threshold;
	bool ids_only;  /* --payload=ids (observer.c): complete messages go without payload */
};

struct stages;

/* Returns 0, or -1 after printing what is wrong with the option. */
int stages_parse_opt(struct stages_opts *o, int opt, const char *arg);

/* True when any stage is enabled (then stages_new() must be called). */
bool stages_wanted(const struct stages_opts *o);

/* Loads semantics (printing every problem, file:line:col), creates the stages and
 * adds their sinks to pipe.  live: time advances with the clock (not a replay).
 * Returns NULL on failure (the reason was printed). */
struct stages *stages_new(const struct stages_opts *o, struct obs_pipeline *pipe, bool live);

/* The server ports the kernel should capture (none when --all-ports): calls add()
 * once per port.  Returns how many. */
int stages_ports(const struct stages *s, void (*add)(void *arg, uint16_t port), void *arg);

/* After the observer's programs are loaded, before attach: compiles the semantics'
 * simple id rules into the kernel's rule table (bpf/extract.bpf.h), so events carry
 * ids extracted in the kernel.  Returns 0, or -1 after saying why. */
struct bpf_object;
int stages_kernel(struct stages *s, struct bpf_object *obj);

/* End of input: closes open requests and the last window, delivers what is left. */
void stages_finish(struct stages *s);

void stages_print_stats(const struct stages *s, FILE *out, bool json);
void stages_free(struct stages *s);

#endif
