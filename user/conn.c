/* Connection table (see conn.h). */
#include "conn.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "link_msg.h"

int conn_table_init(struct conn_table *t, uint32_t max, conn_end_fn on_end, void *arg)
{
	memset(t, 0, sizeof(*t));
	uint64_t n = 1024;
	while (n < max)
		n <<= 1;
	t->buckets = calloc(n, sizeof(*t->buckets));
	t->sbuckets = calloc(n, sizeof(*t->sbuckets));
	if (!t->buckets || !t->sbuckets) {
		free(t->buckets);
		free(t->sbuckets);
		return -1;
	}
	t->mask = n - 1;
	t->max = max ? max : 65536;
	t->on_end = on_end;
	t->arg = arg;
	return 0;
}

uint64_t conn_key(uint64_t sock_id, uint8_t proto, const uint8_t raddr[16], uint16_t rport)
{
	if (proto != IPPROTO_UDP)
		return lk_mix(sock_id, 0);
	uint8_t b[18];
	memcpy(b, raddr, 16);
	memcpy(b + 16, &rport, 2);
	return lk_mix(sock_id, lk_hash(b, sizeof(b)));
}

static void unlink_all(struct conn_table *t, struct conn *c)
{
	struct conn **pp = &t->buckets[c->key & t->mask];
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	pp = &t->sbuckets[lk_mix(c->sock_id, 1) & t->mask];
	while (*pp && *pp != c)
		pp = &(*pp)->snext;
	if (*pp)
		*pp = c->snext;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		t->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		t->lru_tail = c->lprev;
}

static void conn_end(struct conn_table *t, struct conn *c, bool evicted)
{
	unlink_all(t, c);
	if (t->on_end)
		t->on_end(c, evicted, t->arg);
	for (int i = 0; i < 2; i++)
		if (c->fr[i])
			sem_framer_free(c->fr[i]);
	t->st.live--;
	free(c);
}

void conn_table_destroy(struct conn_table *t)
{
	while (t->lru_head)
		conn_end(t, t->lru_head, false);
	free(t->buckets);
	free(t->sbuckets);
	t->buckets = t->sbuckets = NULL;
}

static void lru_touch(struct conn_table *t, struct conn *c)
{
	if (t->lru_tail == c)
		return;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (t->lru_head == c)
		t->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = t->lru_tail;
	c->lnext = NULL;
	if (t->lru_tail)
		t->lru_tail->lnext = c;
	else
		t->lru_head = c;
	t->lru_tail = c;
}

struct conn *conn_get(struct conn_table *t, uint64_t key, uint64_t sock_id, uint64_t now,
		      bool *created)
{
	*created = false;
	for (struct conn *c = t->buckets[key & t->mask]; c; c = c->next) {
		if (c->key == key && c->sock_id == sock_id) {
			c->last_seen = now;
			lru_touch(t, c);
			return c;
		}
	}
	if (t->st.live >= t->max && t->lru_head) {
		t->st.evicted++;
		conn_end(t, t->lru_head, true);
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = key;
	c->sock_id = sock_id;
	c->id = ++t->next_id;
	c->last_seen = now;
	c->next = t->buckets[key & t->mask];
	t->buckets[key & t->mask] = c;
	struct conn **sb = &t->sbuckets[lk_mix(sock_id, 1) & t->mask];
	c->snext = *sb;
	*sb = c;
	c->lprev = t->lru_tail;
	if (t->lru_tail)
		t->lru_tail->lnext = c;
	else
		t->lru_head = c;
	t->lru_tail = c;
	t->st.live++;
	t->st.created++;
	*created = true;
	return c;
}

unsigned conn_close_sock(struct conn_table *t, uint64_t sock_id)
{
	unsigned n = 0;
	struct conn **sb = &t->sbuckets[lk_mix(sock_id, 1) & t->mask];
	for (;;) {
		struct conn *c = *sb;
		while (c && c->sock_id != sock_id)
			c = c->snext;
		if (!c)
			break;
		t->st.closed++;
		conn_end(t, c, false);
		n++;
	}
	return n;
}
