/* Path output: JSON lines and the tree view (format in docs/paths.md). */
#include "path.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

static const char *const flag_names[] = {
	"truncated", "gap", "ambiguous", "timeout", "closed", "by_thread",
	"evicted", "incomplete", "late", "fanout_cap", "depth_cap",
};

size_t path_flag_names(unsigned flags, char *buf, size_t n)
{
	size_t len = 0;
	if (n)
		buf[0] = 0;
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & (1u << i)))
			continue;
		int w = snprintf(buf + len, n > len ? n - len : 0, "%s%s", len ? " " : "",
				 flag_names[i]);
		if (w > 0)
			len += (size_t)w;
	}
	return len < n ? len : (n ? n - 1 : 0);
}

static void addr_str(const uint8_t a[16], uint16_t port, char *buf, size_t n)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16];
	char ip[INET6_ADDRSTRLEN] = "";
	if (memcmp(a, zero, 16) == 0)
		ip[0] = 0; /* wildcard: unconnected UDP */
	else if (memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
	if (strchr(ip, ':'))
		snprintf(buf, n, "[%s]:%u", ip, port);
	else
		snprintf(buf, n, "%s:%u", ip, port);
}

size_t path_join_key(const struct lk_hop *h, char *buf, size_t n)
{
	char c[64], s[64];
	int w;
	if (h->proto_l4 == IPPROTO_UDP) {
		w = snprintf(buf, n, "udp/:%u>:%u/%016" PRIx64, h->cport, h->sport, h->seq_or_hash);
	} else {
		addr_str(h->caddr, h->cport, c, sizeof(c));
		addr_str(h->saddr, h->sport, s, sizeof(s));
		w = snprintf(buf, n, "tcp/%s>%s/%" PRIu64, c, s, h->seq_or_hash);
	}
	return w < 0 ? 0 : (size_t)w;
}

const char *path_hop_outcome(const struct lk_hop *h)
{
	uint16_t f = lk_hop_flags(h);
	if (h->oneway)
		return "oneway";
	if (f & LK_F_TIMEOUT)
		return "timeout";
	if (f & LK_F_CLOSED)
		return "closed";
	switch (lk_hop_outcome(h)) {
	case LK_OUTCOME_OK:
		return "ok";
	case LK_OUTCOME_ERROR:
		return "error";
	default:
		break;
	}
	if (f & LK_F_EVICTED)
		return "evicted";
	for (int i = 0; i < 2; i++)
		if (h->side[i].state == LK_SIDE_OPEN)
			return "incomplete";
	return "unknown";
}

/* JSON string: bytes outside printable ASCII are escaped (\u00XX), so the output is
 * always valid UTF-8 whatever the traffic contained. */
static void json_str(FILE *out, const char *s, size_t max)
{
	fputc('"', out);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void json_side(FILE *out, const struct lk_hop *h, int i)
{
	const struct lk_side *s = &h->side[i];
	char a[64];
	if (i == LK_CLIENT)
		addr_str(h->caddr, h->cport, a, sizeof(a));
	else
		addr_str(h->saddr, h->sport, a, sizeof(a));
	if (s->state == LK_SIDE_ABSENT) {
		fprintf(out, "{\"seen\":false,\"addr\":\"%s\"}", a);
		return;
	}
	fprintf(out, "{\"seen\":true,\"netns\":%u,\"pid\":%u,\"tid\":%u,\"comm\":", s->netns,
		s->pid, s->tid);
	json_str(out, s->comm, LK_COMM_LEN);
	fprintf(out, ",\"addr\":\"%s\",\"t_req_ns\":%" PRIu64 ",\"t_resp_ns\":%" PRIu64 "}", a,
		s->t_req_start, s->t_resp_end ? s->t_resp_end : s->t_resp_start);
}

static void json_flags(FILE *out, unsigned flags)
{
	fputc('[', out);
	bool first = true;
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & (1u << i)))
			continue;
		fprintf(out, "%s\"%s\"", first ? "" : ",", flag_names[i]);
		first = false;
	}
	fputc(']', out);
}

static uint32_t bytes_of(const struct lk_hop *h, bool resp)
{
	for (int i = 0; i < 2; i++) {
		uint32_t v = resp ? h->side[i].resp_len : h->side[i].req_len;
		if (v)
			return v;
	}
	return 0;
}

static void json_hop(FILE *out, const struct lk_hop *h, unsigned depth)
{
	char key[160];
	path_join_key(h, key, sizeof(key));
	fprintf(out, "{\"hop\":%" PRIu64 ",\"proto\":", h->id);
	json_str(out, h->proto, sizeof(h->proto));
	fprintf(out, ",\"label\":");
	json_str(out, h->label, sizeof(h->label));
	fprintf(out, ",\"link_id\":");
	json_str(out, h->id_text, sizeof(h->id_text));
	fprintf(out, ",\"join\":\"%s\",\"client\":", key);
	json_side(out, h, LK_CLIENT);
	fprintf(out, ",\"server\":");
	json_side(out, h, LK_SERVER);
	fprintf(out,
		",\"latency_ns\":%" PRIu64 ",\"server_ns\":%" PRIu64 ",\"children_ns\":%" PRIu64
		",\"req_bytes\":%u,\"resp_bytes\":%u,\"outcome\":\"%s\",\"status\":%d,\"flags\":",
		lk_hop_client_latency(h), lk_hop_server_time(h), lk_hop_children_time(h),
		bytes_of(h, false), bytes_of(h, true), path_hop_outcome(h), lk_hop_status(h));
	json_flags(out, lk_hop_flags(h));
	fprintf(out, ",\"children\":[");
	/* Depth is bounded by the tree the linker built; guard anyway. */
	if (depth < 64) {
		for (const struct lk_hop *c = h->first_child; c; c = c->next_sibling) {
			json_hop(out, c, depth + 1);
			if (c->next_sibling)
				fputc(',', out);
		}
	}
	fprintf(out, "]}");
}

static void count_tree(const struct lk_hop *h, unsigned *hops, unsigned *flags,
		       unsigned depth)
{
	(*hops)++;
	*flags |= lk_hop_flags(h);
	if (depth < 64)
		for (const struct lk_hop *c = h->first_child; c; c = c->next_sibling)
			count_tree(c, hops, flags, depth + 1);
}

void path_write_json(FILE *out, const struct lk_hop *root)
{
	unsigned hops = 0, flags = 0;
	count_tree(root, &hops, &flags, 0);
	const struct lk_side *s = root->side[LK_CLIENT].state ? &root->side[LK_CLIENT]
							      : &root->side[LK_SERVER];
	/* A segment: the root's client end was not seen by this observer, so another
	 * observer may hold the rest; "join" keys let the aggregator stitch them. */
	bool segment = root->side[LK_CLIENT].state == LK_SIDE_ABSENT;
	fprintf(out, "{\"path\":%" PRIu64 ",\"t_start_ns\":%" PRIu64 ",\"hops\":%u,\"segment\":%s,\"flags\":",
		root->id, s->t_req_start, hops, segment ? "true" : "false");
	json_flags(out, flags);
	fprintf(out, ",\"root\":");
	json_hop(out, root, 0);
	fprintf(out, "}\n");
}

static void fmt_ns(uint64_t ns, char *buf, size_t n)
{
	if (ns >= 1000000000ull)
		snprintf(buf, n, "%.2fs", (double)ns / 1e9);
	else if (ns >= 1000000ull)
		snprintf(buf, n, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
}

static void side_name(const struct lk_hop *h, int i, char *buf, size_t n)
{
	const struct lk_side *s = &h->side[i];
	if (s->state == LK_SIDE_ABSENT) {
		char a[64];
		if (i == LK_CLIENT)
			addr_str(h->caddr, h->cport, a, sizeof(a));
		else
			addr_str(h->saddr, h->sport, a, sizeof(a));
		snprintf(buf, n, "(%s)", a);
		return;
	}
	char comm[LK_COMM_LEN + 1];
	size_t k = 0;
	for (; k < LK_COMM_LEN && s->comm[k]; k++)
		comm[k] = (s->comm[k] >= 0x20 && s->comm[k] < 0x7f) ? s->comm[k] : '?';
	comm[k] = 0;
	snprintf(buf, n, "%s[%u]@%u", comm, s->pid, s->netns);
}

static void tree_hop(FILE *out, const struct lk_hop *h, char *prefix, size_t plen,
		     bool last, unsigned depth)
{
	char c[96], s[96], lat[32], srv[32], ch[32], fl[160], label[LK_LABEL_LEN + 1];
	side_name(h, LK_CLIENT, c, sizeof(c));
	side_name(h, LK_SERVER, s, sizeof(s));
	fmt_ns(lk_hop_client_latency(h), lat, sizeof(lat));
	fmt_ns(lk_hop_server_time(h), srv, sizeof(srv));
	fmt_ns(lk_hop_children_time(h), ch, sizeof(ch));
	path_flag_names(lk_hop_flags(h), fl, sizeof(fl));
	size_t k = 0;
	for (; k < LK_LABEL_LEN && h->label[k]; k++)
		label[k] = (h->label[k] >= 0x20 && h->label[k] < 0x7f) ? h->label[k] : '?';
	label[k] = 0;
	fprintf(out, "%s%s%s -> %s  %s %s  %s (server %s, children %s)  %uB/%uB  %s", prefix,
		depth == 0 ? "" : (last ? "`- " : "|- "), c, s, h->proto, label, lat, srv, ch,
		bytes_of(h, false), bytes_of(h, true), path_hop_outcome(h));
	if (lk_hop_status(h) >= 0)
		fprintf(out, " %d", lk_hop_status(h));
	if (fl[0])
		fprintf(out, "  [%s]", fl);
	fputc('\n', out);
	if (depth >= 64)
		return;
	size_t add = depth == 0 ? 0 : 3;
	if (plen + add + 1 > 256)
		add = 0;
	if (add)
		memcpy(prefix + plen, last ? "   " : "|  ", add + 1);
	for (const struct lk_hop *x = h->first_child; x; x = x->next_sibling)
		tree_hop(out, x, prefix, plen + add, x->next_sibling == NULL, depth + 1);
	prefix[plen] = 0;
}

void path_write_tree(FILE *out, const struct lk_hop *root)
{
	char prefix[260] = "";
	unsigned hops = 0, flags = 0;
	count_tree(root, &hops, &flags, 0);
	fprintf(out, "path %" PRIu64 " (%u hop%s)\n", root->id, hops, hops == 1 ? "" : "s");
	memcpy(prefix, "  ", 3);
	tree_hop(out, root, prefix, 2, true, 0);
}
