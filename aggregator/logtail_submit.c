/* Report submission: insitud batches, or JSON lines (see logtail_submit.h). */
#include "logtail_submit.h"

#include <inttypes.h>
#include <string.h>

#include "../user/reporter.h"
#include "insitud_client.h"
#include "log.h"
#include "timeutil.h"

static void put_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void lt_report_print(FILE *out, const struct insitu_report *r, const struct lt_source *src)
{
	fputs("{\"observer\":", out);
	put_json_string(out, r->observer);
	fputs(",\"subject\":", out);
	put_json_string(out, r->subject);
	fprintf(out, ",\"ts_us\":%" PRIu64 ",\"metrics\":[", r->obs.ts_us);
	for (unsigned i = 0; i < r->obs.n_metrics; i++) {
		const struct insitu_metric *m = &r->obs.metrics[i];
		fputs(i ? ",{\"name\":" : "{\"name\":", out);
		put_json_string(out, m->name);
		fprintf(out, ",\"status\":\"%s\",\"score\":%g}", insitu_status_name(m->value.status), m->value.score);
	}
	fputs("]", out);
	if (src) {
		fputs(",\"source\":{\"file\":", out);
		put_json_string(out, src->file);
		fprintf(out, ",\"line\":%" PRIu64 ",\"rule\":", src->lineno);
		put_json_string(out, src->rule);
		fputs("}", out);
	}
	fputs("}\n", out);
}

int lt_sink_open_backlog(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer,
			 size_t backlog)
{
	struct insitud_client *probe;

	memset(s, 0, sizeof *s);
	s->print = print;
	s->out = out;
	s->socket = socket;
	s->observer = observer;
	if (print)
		return 0;
	/* a wrong socket path or a stopped insitud at start is the operator's mistake:
	 * said at once; later outages are ridden out by the reporter's backlog */
	probe = insitud_connect(socket, s->last_error, sizeof s->last_error);
	if (!probe)
		return -1;
	insitud_close(probe);
	s->rep = reporter_new(socket, backlog ? backlog : LT_BACKLOG_DEFAULT, "insitu-logtail", observer);
	if (!s->rep) {
		snprintf(s->last_error, sizeof s->last_error, "out of memory");
		return -1;
	}
	return 0;
}

int lt_sink_open(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer)
{
	return lt_sink_open_backlog(s, print, out, socket, observer, LT_BACKLOG_DEFAULT);
}

static void sync_counters(struct lt_sink *s)
{
	const struct reporter_stats *st = reporter_stats(s->rep);
	s->sent = s->accepted = st->sent;
	s->dropped = st->dropped;
	s->refused = st->refused;
	s->failures = st->failures;
	s->reconnects = st->connects ? st->connects - 1 : 0;
	s->backlog = st->backlog;
}

void lt_sink_flush(struct lt_sink *s)
{
	if (s->print) {
		fflush(s->out);
		return;
	}
	reporter_flush(s->rep, mono_ns());
	sync_counters(s);
}

void lt_sink_put(struct lt_sink *s, const struct insitu_report *r, const struct lt_source *src)
{
	if (s->print) {
		lt_report_print(s->out, r, src);
		s->sent++;
		return;
	}
	reporter_add(s->rep, r);
	/* a replayed file produces reports faster than the idle-time flush: send full
	 * batches as they form */
	if (reporter_stats(s->rep)->backlog >= 256)
		lt_sink_flush(s);
}

void lt_sink_close(struct lt_sink *s)
{
	lt_sink_flush(s);
	if (!s->rep)
		return;
	s->lost_at_exit = s->backlog;
	if (s->backlog)
		log_warn("insitud unreachable at exit: %" PRIu64 " report(s) not delivered", s->backlog);
	reporter_free(s->rep);
	s->rep = NULL;
}
