/* Request dispatch of the socket protocol (see requests.h, docs/protocol.md). */
#include "requests.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "insitud.h"
#include "insitud_client.h"
#include "peers.h"
#include "segments_query.h"
#include "timeutil.h"

struct requests_stats requests_stats;

struct req {
	struct insitud *d;
	const cJSON *j;
	cJSON *ans; /* answer being built */
	const char *err_code;
	char err[300];
	int is_write;
	int may_write;
};

static int bad(struct req *q, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct req *q, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->err, sizeof q->err, fmt, ap);
	va_end(ap);
	q->err_code = code;
	return -1;
}

/* A required name field (subject, observer, module ...). */
static const char *name_field(struct req *q, const char *field, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(q->j, field);
	if (!v && !required)
		return NULL;
	if (!cJSON_IsString(v) || !insitu_name_valid(v->valuestring, INSITU_NAME_MAX)) {
		bad(q, "bad_request", "\"%s\": expected a name of 1-%d bytes without spaces", field,
		    INSITU_NAME_MAX - 1);
		return NULL;
	}
	return v->valuestring;
}

/* --- JSON of store objects ------------------------------------------------------- */

static cJSON *metrics_json(const struct store *s, const struct obs_metric *m, unsigned n)
{
	cJSON *a = cJSON_CreateArray();
	for (unsigned i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", store_metric_name(s, m[i].metric));
		cJSON_AddStringToObject(o, "status", insitu_status_name((enum insitu_status)m[i].status));
		cJSON_AddNumberToObject(o, "score", m[i].score);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *view_json(const struct store *s, const struct subject *sj, const struct view *v)
{
	cJSON *o = cJSON_CreateObject(), *a;
	cJSON_AddStringToObject(o, "observer", store_observer_name(s, v->observer));
	cJSON_AddStringToObject(o, "subject", sj->name);
	a = cJSON_AddArrayToObject(o, "observations");
	for (unsigned i = 0; i < v->n; i++) {
		cJSON *ob = cJSON_CreateObject();
		cJSON_AddNumberToObject(ob, "ts_us", (double)v->obs[i]->ts_us);
		cJSON_AddItemToObject(ob, "metrics", metrics_json(s, v->obs[i]->m, v->obs[i]->n));
		cJSON_AddItemToArray(a, ob);
	}
	return o;
}

static cJSON *panorama_json(const struct store *s, const struct subject *sj)
{
	cJSON *o = cJSON_CreateObject(), *a;
	cJSON_AddStringToObject(o, "subject", sj->name);
	a = cJSON_AddArrayToObject(o, "views");
	for (unsigned i = 0; i < sj->nviews; i++)
		if (sj->views[i].n)
			cJSON_AddItemToArray(a, view_json(s, sj, &sj->views[i]));
	return o;
}

/* NULL when the subject has no inference (no observations). */
static cJSON *inference_json(struct store *s, struct subject *sj)
{
	cJSON *o, *a, *ov;

	store_infer(s, sj);
	if (!sj->inf_n)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "subject", sj->name);
	a = cJSON_AddArrayToObject(o, "observers");
	for (unsigned i = 0; i < sj->nviews; i++)
		if (sj->views[i].n)
			cJSON_AddItemToArray(a, cJSON_CreateString(store_observer_name(s, sj->views[i].observer)));
	cJSON_AddNumberToObject(o, "ts_us", (double)sj->inf_ts);
	cJSON_AddItemToObject(o, "metrics", metrics_json(s, sj->inf, sj->inf_n));
	if (sj->overall >= 0) {
		const struct obs_metric *m = &sj->inf[sj->overall];
		ov = cJSON_AddObjectToObject(o, "overall");
		cJSON_AddStringToObject(ov, "status", insitu_status_name((enum insitu_status)m->status));
		cJSON_AddStringToObject(ov, "metric", store_metric_name(s, m->metric));
		cJSON_AddNumberToObject(ov, "score", m->score);
	}
	return o;
}

static struct subject *subject_of(struct req *q)
{
	const char *name = name_field(q, "subject", 1);
	struct subject *sj;
	if (!name)
		return NULL;
	sj = store_subject(&q->d->store, name);
	if (!sj)
		bad(q, "not_found", "no observation about subject '%s'", name);
	return sj;
}

/* --- operations ------------------------------------------------------------------ */

static int op_register(struct req *q)
{
	const char *module = name_field(q, "module", 1), *name;
	uint64_t h;
	if (!module || !(name = name_field(q, "name", 1)))
		return -1;
	q->is_write = 1;
	h = core_register(q->d, module, name);
	if (!h)
		return bad(q, "storage", "cannot register (%u observers registered, limit %d): %s",
			   q->d->reg.n, REGISTRY_MAX, q->d->db.err);
	cJSON_AddNumberToObject(q->ans, "handle", (double)h);
	return 0;
}

/* The registration named by the request's "handle" (register's answer), or NULL after
 * answering the error: shared by every write that says who it comes from. */
static const struct registration *registration_of(struct req *q)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(q->j, "handle");
	const struct registration *reg;

	if (!cJSON_IsNumber(h) || h->valuedouble < 0 || h->valuedouble != floor(h->valuedouble)) {
		bad(q, "bad_request", "\"handle\": expected the integer returned by \"register\"");
		return NULL;
	}
	reg = registry_get(&q->d->reg, (uint64_t)h->valuedouble);
	if (!reg)
		bad(q, "unknown_handle", "handle %.0f is not registered (use \"register\" first)", h->valuedouble);
	return reg;
}

static int op_submit(struct req *q)
{
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(q->j, "report");
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(q->j, "reports"), *it;
	const struct registration *reg;
	struct insitu_report *rs;
	char err[200];
	int n = 0, i = 0;

	if (!(reg = registration_of(q)))
		return -1;
	if (!!one == !!many)
		return bad(q, "bad_request", "expected exactly one of \"report\" (object) or \"reports\" (array)");
	if (many && (!cJSON_IsArray(many) || (n = cJSON_GetArraySize(many)) < 1 || n > INSITUD_BATCH_MAX))
		return bad(q, "bad_request", "\"reports\": expected an array of 1-%d reports", INSITUD_BATCH_MAX);
	if (one)
		n = 1;
	/* one buffer for every batch: the daemon is single-threaded, and a 1.5 MB
	 * malloc/free per request was a measurable cost */
	static struct insitu_report batch_buf[INSITUD_BATCH_MAX];
	rs = batch_buf;
	/* validate everything before storing anything */
	if (one) {
		if (insitu_report_from_json(one, reg->name, &rs[0], err, sizeof err)) {
			return bad(q, "bad_request", "report: %s", err);
		}
	} else {
		cJSON_ArrayForEach(it, many) {
			if (insitu_report_from_json(it, reg->name, &rs[i], err, sizeof err)) {
				return bad(q, "bad_request", "reports[%d]: %s", i, err);
			}
			i++;
		}
	}
	q->is_write = 1;
	for (i = 0; i < n; i++)
		if (core_submit_local(q->d, &rs[i]))
			return bad(q, "storage", "%s", q->d->db.err);
	if (one) {
		cJSON_AddStringToObject(q->ans, "result", "ACCEPTED");
	} else {
		cJSON_AddNumberToObject(q->ans, "accepted", n);
		cJSON_AddNumberToObject(q->ans, "ignored", 0);
	}
	return 0;
}

/* Path segments (segments_query.h): created on first use. */
static struct segments *segs_of(struct req *q)
{
	if (!q->d->segs && !(q->d->segs = segments_new(&q->d->cfg.segs)))
		bad(q, "internal", "out of memory");
	return q->d->segs;
}

static int op_submit_paths(struct req *q)
{
	const struct registration *reg;
	struct segments *g;

	if (!(reg = registration_of(q)))
		return -1;
	if (!(g = segs_of(q)))
		return -1;
	char e[sizeof q->err];
	if (segments_op_submit(g, reg->name, q->j, q->ans, e, sizeof e, now_ms()))
		return bad(q, "bad_request", "%s", e);
	return 0;
}

static int op_paths(struct req *q)
{
	struct segments *g = segs_of(q);
	const char *code = "bad_request";
	char e[sizeof q->err];

	if (!g)
		return -1;
	if (segments_op_paths(g, q->d->peers, q->j, q->ans, &code, e, sizeof e, now_ms()))
		return bad(q, code, "%s", e);
	return 0;
}

static int op_watch(struct req *q, int on)
{
	const char *s = name_field(q, "subject", 1);
	if (!s)
		return -1;
	q->is_write = 1;
	if (core_watch(q->d, s, on))
		return bad(q, "storage", "%s", q->d->db.err);
	return 0;
}

static int op_ping(struct req *q)
{
	cJSON_AddNumberToObject(q->ans, "time_us", (double)(wall_ns() / 1000));
	cJSON_AddStringToObject(q->ans, "instance", q->d->cfg.id);
	return 0;
}

static int op_get_report(struct req *q)
{
	struct subject *sj = subject_of(q);
	const char *obs;
	const struct view *v = NULL;
	const struct obs *o;
	uint32_t oid = UINT32_MAX;
	struct insitu_report r;

	if (!sj)
		return -1;
	obs = name_field(q, "observer", 0);
	if (q->err_code)
		return -1;
	if (obs && (oid = store_observer_id(&q->d->store, obs)) == UINT32_MAX)
		return bad(q, "not_found", "unknown observer '%s'", obs);
	o = store_latest(sj, oid, &v);
	if (!o)
		return bad(q, "not_found", "no report about '%s'%s%s", sj->name, obs ? " from " : "", obs ? obs : "");
	store_obs_to_report(&q->d->store, sj, v, o, &r);
	cJSON_AddItemToObject(q->ans, "report", insitu_report_to_json(&r));
	return 0;
}

static int op_get_view(struct req *q)
{
	const char *obs = name_field(q, "observer", 1);
	struct subject *sj;
	const struct view *v;
	uint32_t oid;

	if (!obs || !(sj = subject_of(q)))
		return -1;
	oid = store_observer_id(&q->d->store, obs);
	v = oid == UINT32_MAX ? NULL : store_view(sj, oid);
	if (!v || !v->n)
		return bad(q, "not_found", "no view of '%s' by '%s'", sj->name, obs);
	cJSON_AddItemToObject(q->ans, "view", view_json(&q->d->store, sj, v));
	return 0;
}

static int op_get_inference(struct req *q)
{
	struct subject *sj = subject_of(q);
	cJSON *inf;
	if (!sj)
		return -1;
	inf = inference_json(&q->d->store, sj);
	if (!inf)
		return bad(q, "not_found", "no inference for '%s' (its observations were all collected)", sj->name);
	cJSON_AddItemToObject(q->ans, "inference", inf);
	return 0;
}

static int op_get_panorama(struct req *q)
{
	struct subject *sj = subject_of(q);
	if (!sj)
		return -1;
	cJSON_AddItemToObject(q->ans, "panorama", panorama_json(&q->d->store, sj));
	return 0;
}

static int op_list_subjects(struct req *q)
{
	cJSON *a = cJSON_AddArrayToObject(q->ans, "subjects");
	for (unsigned i = 0; i < q->d->store.nsubjects; i++) {
		const struct subject *sj = q->d->store.subjects[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "subject", sj->name);
		cJSON_AddNumberToObject(o, "ts_us", (double)sj->last_ts);
		cJSON_AddItemToArray(a, o);
	}
	return 0;
}

static int op_dump(struct req *q, int panorama)
{
	cJSON *a = cJSON_AddArrayToObject(q->ans, panorama ? "panoramas" : "inferences");
	for (unsigned i = 0; i < q->d->store.nsubjects; i++) {
		struct subject *sj = q->d->store.subjects[i];
		cJSON *o = panorama ? panorama_json(&q->d->store, sj) : inference_json(&q->d->store, sj);
		if (o)
			cJSON_AddItemToArray(a, o);
	}
	return 0;
}

/* One line per subject: the overall verdict, the metric driving it, and the observers
 * whose own (stage-A) view of that metric has the same status. */
static int op_status(struct req *q)
{
	struct store *s = &q->d->store;
	cJSON *a = cJSON_AddArrayToObject(q->ans, "subjects");

	for (unsigned i = 0; i < s->nsubjects; i++) {
		struct subject *sj = store_infer(s, s->subjects[i]);
		const struct obs_metric *m;
		cJSON *o, *obs;
		if (!sj->inf_n || sj->overall < 0)
			continue;
		m = &sj->inf[sj->overall];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "subject", sj->name);
		cJSON_AddStringToObject(o, "verdict", insitu_status_name((enum insitu_status)m->status));
		cJSON_AddStringToObject(o, "metric", store_metric_name(s, m->metric));
		cJSON_AddNumberToObject(o, "score", m->score);
		cJSON_AddNumberToObject(o, "ts_us", (double)sj->inf_ts);
		obs = cJSON_AddArrayToObject(o, "observers");
		for (unsigned v = 0; v < sj->nviews; v++) {
			struct view *vw = &sj->views[v];
			store_view_summary(vw);
			for (unsigned k = 0; k < vw->sum_n; k++)
				if (vw->sum[k].metric == m->metric && vw->sum[k].status == m->status)
					cJSON_AddItemToArray(obs, cJSON_CreateString(store_observer_name(s, vw->observer)));
		}
		cJSON_AddNumberToObject(o, "views", sj->nviews);
		cJSON_AddItemToArray(a, o);
	}
	return 0;
}

static int op_peers(struct req *q)
{
	cJSON_AddItemToObject(q->ans, "peers", q->d->peers ? peers_status_json(q->d->peers) : cJSON_CreateArray());
	return 0;
}

static int op_watchlist(struct req *q)
{
	cJSON *a = cJSON_AddArrayToObject(q->ans, "subjects");
	const char *k;
	for (size_t it = 0; (it = strmap_next(&q->d->store.watch, it, &k, NULL));)
		cJSON_AddItemToArray(a, cJSON_CreateString(k));
	cJSON_AddBoolToObject(q->ans, "filter", q->d->cfg.filter);
	return 0;
}

#define NUM(o, k, v) cJSON_AddNumberToObject(o, k, (double)(v))

static int op_stats(struct req *q)
{
	struct insitud *d = q->d;
	cJSON *o = q->ans;
	NUM(o, "subjects", d->store.nsubjects);
	NUM(o, "observations", d->store.nobs);
	NUM(o, "observers_registered", d->reg.n);
	NUM(o, "reports_local_accepted", d->st.local_accepted);
	NUM(o, "reports_learned_accepted", d->st.learned_accepted);
	NUM(o, "reports_learned_ignored", d->st.learned_ignored);
	NUM(o, "evicted_by_view_cap", d->store.st.evicted_cap);
	NUM(o, "removed_by_gc", d->store.st.gc_removed);
	NUM(o, "inferences_computed", d->store.st.inferences);
	NUM(o, "hold_reports", d->hold.total);
	NUM(o, "hold_overflow", d->hold.overflow);
	NUM(o, "hold_expired", d->hold.expired);
	NUM(o, "hold_released", d->hold.released);
	NUM(o, "db_commits", d->db.commits);
	NUM(o, "db_commit_failures", d->db.commit_failures);
	NUM(o, "db_rows_deleted", d->db.drops_deleted);
	NUM(o, "storage_errors", d->st.storage_errors);
	NUM(o, "state_rebuilds", d->st.rebuilds);
	NUM(o, "compactions", d->st.compactions);
	NUM(o, "requests_ok", requests_stats.ok);
	NUM(o, "requests_bad", requests_stats.bad);
	NUM(o, "requests_parse_errors", requests_stats.parse_errors);
	if (d->api)
		api_stats_json(d->api, o);
	if (d->peers)
		cJSON_AddItemToObject(o, "peers", peers_stats_json(d->peers));
	if (d->segs)
		segments_stats_json(d->segs, o);
	return 0;
}

char *requests_error(const char *id, const char *code, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;
	if (id)
		cJSON_AddRawToObject(o, "id", id);
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "message", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

char *requests_storage_error(const char *id, const char *msg)
{
	char m[400];
	snprintf(m, sizeof m, "not stored: %s", msg);
	return requests_error(id, "storage", m);
}

static int writes_allowed(struct req *q)
{
	if (q->may_write)
		return 1;
	bad(q, "permission", "changing state needs membership of group '%s' (WriteGroup)",
	    q->d->cfg.write_group);
	return 0;
}

void requests_handle(struct insitud *d, const char *line, size_t len, int may_write, struct answer *ans)
{
	struct req q = {.d = d, .may_write = may_write};
	const cJSON *op, *id;
	cJSON *j;
	int rc = -1;

	memset(ans, 0, sizeof *ans);
	j = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(j)) {
		requests_stats.parse_errors++;
		cJSON_Delete(j);
		ans->text = requests_error(NULL, "parse", "expected one JSON object per line");
		return;
	}
	q.j = j;
	id = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (id)
		ans->id = cJSON_PrintUnformatted(id);
	q.ans = cJSON_CreateObject();
	if (ans->id)
		cJSON_AddRawToObject(q.ans, "id", ans->id);
	cJSON_AddTrueToObject(q.ans, "ok");
	op = cJSON_GetObjectItemCaseSensitive(j, "op");
	if (!cJSON_IsString(op))
		rc = bad(&q, "bad_request", "\"op\": expected a string (ping, register, submit, get_inference, ...)");
	else if (!strcmp(op->valuestring, "submit"))
		rc = writes_allowed(&q) ? op_submit(&q) : -1;
	else if (!strcmp(op->valuestring, "register"))
		rc = writes_allowed(&q) ? op_register(&q) : -1;
	else if (!strcmp(op->valuestring, "watch"))
		rc = writes_allowed(&q) ? op_watch(&q, 1) : -1;
	else if (!strcmp(op->valuestring, "unwatch"))
		rc = writes_allowed(&q) ? op_watch(&q, 0) : -1;
	else if (!strcmp(op->valuestring, "ping"))
		rc = op_ping(&q);
	else if (!strcmp(op->valuestring, "get_report"))
		rc = op_get_report(&q);
	else if (!strcmp(op->valuestring, "get_view"))
		rc = op_get_view(&q);
	else if (!strcmp(op->valuestring, "get_inference"))
		rc = op_get_inference(&q);
	else if (!strcmp(op->valuestring, "get_panorama"))
		rc = op_get_panorama(&q);
	else if (!strcmp(op->valuestring, "list_subjects"))
		rc = op_list_subjects(&q);
	else if (!strcmp(op->valuestring, "dump_inference"))
		rc = op_dump(&q, 0);
	else if (!strcmp(op->valuestring, "dump_panorama"))
		rc = op_dump(&q, 1);
	else if (!strcmp(op->valuestring, "status"))
		rc = op_status(&q);
	else if (!strcmp(op->valuestring, "peers"))
		rc = op_peers(&q);
	else if (!strcmp(op->valuestring, "stats"))
		rc = op_stats(&q);
	else if (!strcmp(op->valuestring, "submit_paths"))
		rc = writes_allowed(&q) ? op_submit_paths(&q) : -1;
	else if (!strcmp(op->valuestring, "paths"))
		rc = op_paths(&q);
	else if (!strcmp(op->valuestring, "watchlist"))
		rc = op_watchlist(&q);
	else
		rc = bad(&q, "unknown_op", "unknown op '%.64s'", op->valuestring);
	ans->is_write = q.is_write;
	if (rc) {
		requests_stats.bad++;
		ans->text = requests_error(ans->id, q.err_code ? q.err_code : "internal", q.err);
	} else {
		requests_stats.ok++;
		ans->text = cJSON_PrintUnformatted(q.ans);
	}
	cJSON_Delete(q.ans);
	cJSON_Delete(j);
}
