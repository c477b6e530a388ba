/* Report submission: insitud batches, or JSON lines (see logtail_submit.h). */
#include "logtail_submit.h"

#include <inttypes.h>
#include <string.h>

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

static int connect_daemon(struct lt_sink *s)
{
	char err[256];
	s->c = insitud_connect(s->socket, err, sizeof err);
	if (!s->c) {
		snprintf(s->last_error, sizeof s->last_error, "%s", err);
		return -1;
	}
	if (insitud_register(s->c, "insitu-logtail", s->observer, &s->handle) < 0) {
		snprintf(s->last_error, sizeof s->last_error, "register: %s", insitud_error(s->c));
		insitud_close(s->c);
		s->c = NULL;
		return -1;
	}
	return 0;
}

int lt_sink_open(struct lt_sink *s, bool print, FILE *out, const char *socket, const char *observer)
{
	memset(s, 0, sizeof *s);
	s->print = print;
	s->out = out;
	s->socket = socket;
	s->observer = observer;
	if (print)
		return 0;
	return connect_daemon(s);
}

void lt_sink_flush(struct lt_sink *s)
{
	if (s->print) {
		fflush(s->out);
		return;
	}
	if (s->n == 0)
		return;
	if (!s->c) {
		int64_t now = (int64_t)mono_ns();
		if (now >= s->retry_at_ns && connect_daemon(s) == 0) {
			log_info("connected to insitud again");
		} else {
			if (now >= s->retry_at_ns)
				s->retry_at_ns = now + 1000000000ll;
			s->dropped += s->n;
			s->n = 0;
			return;
		}
	}
	size_t acc = 0;
	if (insitud_submit_batch(s->c, s->handle, s->batch, s->n, &acc) < 0) {
		snprintf(s->last_error, sizeof s->last_error, "%s", insitud_error(s->c));
		log_warn("insitud refused or lost %zu report(s): %s", s->n, s->last_error);
		s->failures++;
		s->dropped += s->n;
		insitud_close(s->c);
		s->c = NULL;
		s->retry_at_ns = (int64_t)mono_ns() + 1000000000ll;
	} else {
		s->sent += s->n;
		s->accepted += acc;
	}
	s->n = 0;
}

void lt_sink_put(struct lt_sink *s, const struct insitu_report *r, const struct lt_source *src)
{
	if (s->print) {
		lt_report_print(s->out, r, src);
		s->sent++;
		return;
	}
	s->batch[s->n++] = *r;
	if (s->n == LT_BATCH)
		lt_sink_flush(s);
}

void lt_sink_close(struct lt_sink *s)
{
	lt_sink_flush(s);
	if (s->c)
		insitud_close(s->c);
	s->c = NULL;
}
