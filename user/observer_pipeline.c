/* Validation and dispatch of event records to the registered sinks (the part of the
 * hot path shared by the live ring buffer and --replay). */
#include "observer_sink.h"

#include <string.h>

int obs_pipeline_add(struct obs_pipeline *p, struct obs_sink *s)
{
	if (p->nsinks >= OBS_MAX_SINKS)
		return -1;
	p->sinks[p->nsinks++] = s;
	return 0;
}

int obs_record_check(const void *rec, size_t len, const char **why)
{
	struct insitu_ev_hdr h;

	if (len < sizeof(h)) {
		*why = "record shorter than its 8-byte header";
		return -1;
	}
	memcpy(&h, rec, sizeof(h));
	if (h.version != INSITU_EVENT_VERSION) {
		*why = "unknown event version (expected 1)";
		return -1;
	}
	if (h.size != len || h.size > OBS_RECORD_MAX) {
		*why = "record size field does not match the record";
		return -1;
	}
	switch (h.kind) {
	case INSITU_EV_MSG: {
		struct insitu_msg_event m;
		if (len < sizeof(m)) {
			*why = "message record shorter than struct insitu_msg_event";
			return -1;
		}
		memcpy(&m, rec, sizeof(m));
		if (sizeof(m) + (size_t)m.ids_len + m.cap_len != len) {
			*why = "message size != header + ids_len + cap_len";
			return -1;
		}
		if (m.cap_len > INSITU_PAYLOAD_MAX || m.ids_len > INSITU_IDS_MAX) {
			*why = "message cap_len or ids_len beyond the format's limits";
			return -1;
		}
		break;
	}
	case INSITU_EV_CONN:
		if (len != sizeof(struct insitu_conn_event)) {
			*why = "connection record size != struct insitu_conn_event";
			return -1;
		}
		break;
	default:
		break; /* unknown kinds are skipped by size, not refused */
	}
	return 0;
}

int obs_pipeline_feed(struct obs_pipeline *p, const void *rec, size_t len)
{
	const struct insitu_ev_hdr *h = rec;
	const char *why;
	int i;

	if (obs_record_check(rec, len, &why)) {
		p->st.invalid++;
		return -1;
	}
	p->st.records++;
	p->st.bytes += len;
	for (i = 0; i < p->nsinks; i++)
		if (p->sinks[i]->on_raw)
			p->sinks[i]->on_raw(p->sinks[i]->ctx, rec, len);
	/* Records in the ring buffer are 8-byte aligned and files are read into aligned
	 * buffers, so the structs can be used in place. */
	if (h->kind == INSITU_EV_MSG) {
		const struct insitu_msg_event *m = rec;
		const uint8_t *ids = (const uint8_t *)(m + 1);
		p->st.msgs++;
		for (i = 0; i < p->nsinks; i++)
			if (p->sinks[i]->on_msg)
				p->sinks[i]->on_msg(p->sinks[i]->ctx, m, ids, ids + m->ids_len);
	} else if (h->kind == INSITU_EV_CONN) {
		p->st.conns++;
		for (i = 0; i < p->nsinks; i++)
			if (p->sinks[i]->on_conn)
				p->sinks[i]->on_conn(p->sinks[i]->ctx, rec);
	} else {
		p->st.unknown++;
	}
	return 0;
}

void obs_pipeline_flush(struct obs_pipeline *p)
{
	for (int i = 0; i < p->nsinks; i++)
		if (p->sinks[i]->flush)
			p->sinks[i]->flush(p->sinks[i]->ctx);
}
