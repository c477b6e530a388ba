/* Component names (names.h): interning, namespace host names, the process and
 * server-endpoint tables, and the operator's override rules. */
#include "names.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "json.h"
#include "report.h"
#include "timeutil.h"

#define INTERN_SLOTS 16384 /* power of two; at most half used */
#define NODE_SLOTS 16384
#define EP_SLOTS 16384
#define HOST_SLOTS 1024
#define MAX_RULES 256
#define NETNS_DIR "/run/netns"

struct node {
	uint32_t netns, pid; /* pid 0: empty */
	uint16_t port;
	bool tentative; /* named before its namespace had a name: try again */
	uint64_t cgroup;
	const char *name;
	char comm[16];
};

struct endpoint {
	uint32_t netns; /* client namespace for loopback addresses, else 0 */
	uint16_t port;  /* 0: empty */
	uint8_t addr[16];
	const char *name;
};

struct host {
	uint32_t netns; /* 0: empty */
	const char *name;
};

struct rule {
	const char *name;
	const char *host; /* "netns": a namespace (host) name */
	const char *comm;
	uint64_t cgroup;
	uint8_t addr[16];
	uint16_t port;
	bool has_addr;
};

struct names {
	char **intern;
	uint32_t n_intern;
	struct node *nodes;
	uint32_t n_nodes;
	struct endpoint *eps;
	uint32_t n_eps;
	struct host hosts[HOST_SLOTS];
	uint32_t n_hosts;
	uint64_t last_scan_ns;
	uint32_t self_netns;
	bool live;
	struct rule rules[MAX_RULES];
	int n_rules;
	bool cgroup_rules; /* some rule names a cgroup: processes' cgroups matter */
	struct names_stats st;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Returns the interned copy of s (bounded length), or "(other)" when full. */
static const char *intern(struct names *n, const char *s)
{
	char buf[INSITU_NAME_MAX];
	uint32_t i;

	snprintf(buf, sizeof(buf), "%s", s);
	for (i = (uint32_t)str_hash(buf) & (INTERN_SLOTS - 1);; i = (i + 1) & (INTERN_SLOTS - 1)) {
		if (!n->intern[i])
			break;
		if (!strcmp(n->intern[i], buf))
			return n->intern[i];
	}
	if (n->n_intern >= INTERN_SLOTS / 2 || !(n->intern[i] = strdup(buf))) {
		n->st.intern_full++;
		return "(other)";
	}
	n->n_intern++;
	n->st.interned++;
	return n->intern[i];
}

static uint32_t netns_of_path(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (uint32_t)sb.st_ino : 0;
}

struct names *names_new(void)
{
	struct names *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->intern = calloc(INTERN_SLOTS, sizeof(*n->intern));
	n->nodes = calloc(NODE_SLOTS, sizeof(*n->nodes));
	n->eps = calloc(EP_SLOTS, sizeof(*n->eps));
	if (!n->intern || !n->nodes || !n->eps) {
		names_free(n);
		return NULL;
	}
	n->self_netns = netns_of_path("/proc/self/ns/net");
	return n;
}

void names_free(struct names *n)
{
	if (!n)
		return;
	if (n->intern)
		for (uint32_t i = 0; i < INTERN_SLOTS; i++)
			free(n->intern[i]);
	free(n->intern);
	free(n->nodes);
	free(n->eps);
	free(n);
}

const struct names_stats *names_stats(const struct names *n) { return &n->st; }
bool names_cgroups_matter(const struct names *n) { return n->cgroup_rules; }
void names_set_live(struct names *n, bool live) { n->live = live; }

/* The process's own name (its main thread's comm), or the thread's when the process
 * is gone or this is a replay. */
static void process_comm(const struct names *n, uint32_t pid, const char *thread_comm,
			 char out[16])
{
	char path[64];
	FILE *f;

	snprintf(out, 16, "%s", thread_comm);
	if (!n->live || !pid)
		return;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, 16, f))
		out[strcspn(out, "\n")] = '\0';
	if (!out[0])
		snprintf(out, 16, "%s", thread_comm);
	fclose(f);
}

/* ---- hosts ---------------------------------------------------------------- */

static struct host *host_slot(struct names *n, uint32_t netns)
{
	uint32_t i = (uint32_t)mix(netns) & (HOST_SLOTS - 1);
	while (n->hosts[i].netns && n->hosts[i].netns != netns)
		i = (i + 1) & (HOST_SLOTS - 1);
	return &n->hosts[i];
}

static void host_set(struct names *n, uint32_t netns, const char *name)
{
	struct host *h = host_slot(n, netns);

	if (h->netns)
		return; /* the first name found wins: names stay stable */
	if (n->n_hosts >= HOST_SLOTS / 2)
		return;
	h->netns = netns;
	h->name = intern(n, name);
	n->n_hosts++;
}

/* Names namespaces from /run/netns (where `ip netns add` binds them). */
static void scan_netns(struct names *n)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	n->st.ns_scans++;
	d = opendir(NETNS_DIR);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NETNS_DIR "/%s", de->d_name);
		uint32_t ino = netns_of_path(path);
		if (ino)
			host_set(n, ino, de->d_name);
	}
	closedir(d);
}

const char *names_host(struct names *n, uint32_t netns)
{
	struct host *h = host_slot(n, netns);
	char buf[64];

	if (h->netns == netns)
		return h->name;
	if (netns == n->self_netns) {
		if (gethostname(buf, sizeof(buf)) != 0 || !buf[0])
			snprintf(buf, sizeof(buf), "localhost");
		buf[sizeof(buf) - 1] = '\0';
		host_set(n, netns, buf);
		return host_slot(n, netns)->name ? host_slot(n, netns)->name : "localhost";
	}
	/* A namespace we have not named yet: look at /run/netns, at most once a second
	 * (a test or an operator may just have created it). */
	uint64_t now = mono_ns();
	if (now - n->last_scan_ns > 1000000000ull || !n->last_scan_ns) {
		n->last_scan_ns = now;
		scan_netns(n);
		h = host_slot(n, netns);
		if (h->netns == netns)
			return h->name;
	}
	snprintf(buf, sizeof(buf), "ns%u", netns);
	return intern(n, buf); /* not remembered: a later scan may still name it */
}

/* ---- rules ---------------------------------------------------------------- */

static bool rule_matches_node(const struct rule *r, const char *host, const char *comm,
			      uint64_t cgroup, uint16_t port)
{
	if (r->has_addr)
		return false;
	if (!r->host && !r->comm && !r->cgroup && !r->port)
		return false;
	if (r->host && strcmp(r->host, host))
		return false;
	if (r->comm && strcmp(r->comm, comm))
		return false;
	if (r->cgroup && r->cgroup != cgroup)
		return false;
	if (r->port && r->port != port)
		return false;
	return true;
}

static bool rule_matches_endpoint(const struct rule *r, const uint8_t addr[16], uint16_t port)
{
	if (r->host || r->comm || r->cgroup)
		return false;
	if (!r->has_addr && !r->port)
		return false;
	if (r->has_addr && memcmp(r->addr, addr, 16))
		return false;
	if (r->port && r->port != port)
		return false;
	return true;
}

static int parse_addr(const char *s, uint8_t out[16])
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

#define RULE_ERR(v, ...)                                                                   \
	do {                                                                               \
		int o_ = snprintf(err, errlen, "%s:%d:%d: ", path, (v)->pos.line, (v)->pos.col); \
		if (o_ > 0 && (size_t)o_ < errlen)                                             \
			snprintf(err + o_, errlen - (size_t)o_, __VA_ARGS__);                  \
		goto fail;                                                                 \
	} while (0)

int names_load_rules(struct names *n, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	int rc;
	char *text = read_file_max(path, 1 << 20, &len);

	if (!text) {
		snprintf(err, errlen, "%s: %s", path, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
		return -1;
	}
	rc = names_load_rules_buffer(n, path, text, len, err, errlen);
	free(text);
	return rc;
}

int names_load_rules_buffer(struct names *n, const char *path, const char *text, size_t len,
			    char *err, size_t errlen)
{
	struct json_error jerr;
	struct json_value *root = NULL;
	int first = n->n_rules;

	root = json_parse(text, len, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.pos.line, jerr.pos.col, jerr.msg);
		return -1;
	}
	if (root->type != JSON_ARRAY)
		RULE_ERR(root, "expected an array of rules, found %s", json_type_name(root->type));
	for (size_t i = 0; i < root->u.array.n; i++) {
		const struct json_value *o = root->u.array.items[i];
		struct rule r = {0};
		if (o->type != JSON_OBJECT)
			RULE_ERR(o, "[%zu]: expected an object, found %s", i, json_type_name(o->type));
		if (n->n_rules >= MAX_RULES)
			RULE_ERR(o, "[%zu]: more than %d rules", i, MAX_RULES);
		for (size_t k = 0; k < o->u.object.n; k++) {
			const struct json_member *m = &o->u.object.members[k];
			const struct json_value *v = m->value;
			bool is_str = v->type == JSON_STRING;
			if (!strcmp(m->key, "port")) {
				if (v->type != JSON_NUMBER || !v->u.number.is_int || v->u.number.i < 1 ||
				    v->u.number.i > 65535)
					RULE_ERR(v, "[%zu].port: expected a port number 1-65535", i);
				r.port = (uint16_t)v->u.number.i;
				continue;
			}
			if (!is_str)
				RULE_ERR(v, "[%zu].%s: expected a string, found %s", i, m->key,
					 json_type_name(v->type));
			const char *s = v->u.string.s;
			if (!strcmp(m->key, "name")) {
				if (!insitu_name_valid(s, INSITU_NAME_MAX))
					RULE_ERR(v, "[%zu].name: expected 1-%d characters without spaces or control characters",
						 i, INSITU_NAME_MAX - 1);
				r.name = intern(n, s);
			} else if (!strcmp(m->key, "netns")) {
				r.host = intern(n, s);
			} else if (!strcmp(m->key, "comm")) {
				r.comm = intern(n, s);
			} else if (!strcmp(m->key, "addr")) {
				if (parse_addr(s, r.addr))
					RULE_ERR(v, "[%zu].addr: expected an IPv4 or IPv6 address", i);
				r.has_addr = true;
			} else if (!strcmp(m->key, "cgroup")) {
				struct stat sb;
				if (stat(s, &sb) != 0)
					RULE_ERR(v, "[%zu].cgroup: %s: %s", i, s, strerror(errno));
				r.cgroup = sb.st_ino; /* cgroup v2: the directory's inode is the id */
			} else {
				RULE_ERR(v, "[%zu]: unknown key \"%s\" (expected name, netns, comm, cgroup, addr, port)",
					 i, m->key);
			}
		}
		if (!r.name)
			RULE_ERR(o, "[%zu]: missing \"name\"", i);
		if (!r.host && !r.comm && !r.cgroup && !r.has_addr && !r.port)
			RULE_ERR(o, "[%zu]: a rule needs at least one of netns, comm, cgroup, addr, port", i);
		if (r.has_addr && (r.host || r.comm || r.cgroup))
			RULE_ERR(o, "[%zu]: \"addr\" names a remote endpoint and cannot be combined with netns, comm or cgroup", i);
		n->rules[n->n_rules++] = r;
	}
	for (int i = 0; i < n->n_rules; i++)
		n->cgroup_rules |= n->rules[i].cgroup != 0;
	json_free(root);
	return 0;
fail:
	n->n_rules = first; /* all or nothing */
	json_free(root);
	return -1;
}

/* ---- nodes and endpoints -------------------------------------------------- */

static struct node *node_slot(struct names *n, uint32_t netns, uint32_t pid)
{
	uint32_t i = (uint32_t)mix(((uint64_t)netns << 32) | pid) & (NODE_SLOTS - 1);
	while (n->nodes[i].pid && (n->nodes[i].pid != pid || n->nodes[i].netns != netns))
		i = (i + 1) & (NODE_SLOTS - 1);
	return &n->nodes[i];
}

static const char *node_name(struct names *n, struct node *nd, const char *comm)
{
	const char *host = names_host(n, nd->netns);
	char buf[INSITU_NAME_MAX];

	nd->tentative = host_slot(n, nd->netns)->netns != nd->netns;
	if (comm != nd->comm)
		snprintf(nd->comm, sizeof(nd->comm), "%s", comm);

	for (int i = 0; i < n->n_rules; i++)
		if (rule_matches_node(&n->rules[i], host, comm, nd->cgroup, nd->port))
			return n->rules[i].name;
	if (nd->port)
		snprintf(buf, sizeof(buf), "%s@%s:%u", comm, host, nd->port);
	else
		snprintf(buf, sizeof(buf), "%s@%s", comm, host);
	/* Names must be valid report names: no spaces (comm may have them). */
	for (char *p = buf; *p; p++)
		if (*p == ' ' || (unsigned char)*p < 0x20)
			*p = '_';
	return intern(n, buf);
}

/* A renamed node: the endpoints (as server, as client) that carried its old name
 * follow it.  Rare (once per process, when its cgroup becomes known), so a scan. */
static void rename_endpoints(struct names *n, const char *old, const char *now)
{
	if (old == now)
		return;
	for (uint32_t i = 0; i < EP_SLOTS; i++)
		if (n->eps[i].port && n->eps[i].name == old)
			n->eps[i].name = now;
}

static struct node *node_get(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
			     uint64_t cgroup)
{
	struct node *nd = node_slot(n, netns, pid ? pid : 1);

	if (nd->pid) {
		if (nd->tentative)
			nd->name = node_name(n, nd, nd->comm);
		if (cgroup && nd->cgroup != cgroup && n->cgroup_rules) {
			/* first seen where the cgroup was not known (a hop's side), or
			 * moved to another cgroup: the cgroup rules decide again */
			const char *old = nd->name;
			nd->cgroup = cgroup;
			nd->name = node_name(n, nd, nd->comm);
			rename_endpoints(n, old, nd->name);
			n->st.cgroup_renames++;
		}
		return nd;
	}
	if (n->n_nodes >= NODE_SLOTS / 2) {
		/* Full: forget every process (names stay interned, so a process that is
		 * still alive gets the same name back on its next event). */
		memset(n->nodes, 0, NODE_SLOTS * sizeof(*n->nodes));
		n->n_nodes = 0;
		n->st.node_resets++;
		nd = node_slot(n, netns, pid ? pid : 1);
	}
	char pcomm[16];

	nd->netns = netns;
	nd->pid = pid ? pid : 1;
	nd->cgroup = cgroup;
	process_comm(n, pid, comm, pcomm);
	nd->name = node_name(n, nd, pcomm);
	n->n_nodes++;
	return nd;
}

const char *names_node(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup)
{
	return node_get(n, netns, pid, comm, cgroup)->name;
}

void names_cgroup_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup)
{
	if (n->cgroup_rules && cgroup)
		node_get(n, netns, pid, comm, cgroup);
}

static bool is_loopback(const uint8_t a[16])
{
	static const uint8_t v6lo[16] = {[15] = 1};
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	if (!memcmp(a, v6lo, 16))
		return true;
	return !memcmp(a, mapped, 12) && a[12] == 127;
}

static struct endpoint *ep_slot(struct names *n, uint32_t netns, const uint8_t addr[16],
				uint16_t port)
{
	uint64_t k = netns ^ ((uint64_t)port << 32);
	for (int i = 0; i < 16; i += 8) {
		uint64_t w;
		memcpy(&w, addr + i, 8);
		k = mix(k ^ w);
	}
	uint32_t i = (uint32_t)k & (EP_SLOTS - 1);
	while (n->eps[i].port && (n->eps[i].port != port || n->eps[i].netns != netns ||
				  memcmp(n->eps[i].addr, addr, 16)))
		i = (i + 1) & (EP_SLOTS - 1);
	return &n->eps[i];
}

void names_server_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup, const uint8_t addr[16], uint16_t port)
{
	struct node *nd = node_get(n, netns, pid, comm, cgroup);
	struct endpoint *ep;

	if (!port)
		return;
	if (!nd->port) {
		nd->port = port;
		nd->name = node_name(n, nd, comm);
	}
	ep = ep_slot(n, is_loopback(addr) ? netns : 0, addr, port);
	if (ep->port) {
		ep->name = nd->name;
		return;
	}
	if (n->n_eps >= EP_SLOTS / 2) {
		n->st.endpoint_full++;
		return;
	}
	ep->netns = is_loopback(addr) ? netns : 0;
	ep->port = port;
	memcpy(ep->addr, addr, 16);
	ep->name = nd->name;
	n->n_eps++;
}

bool names_endpoint_known(struct names *n, uint32_t client_netns, const uint8_t addr[16],
			  uint16_t port)
{
	return ep_slot(n, is_loopback(addr) ? client_netns : 0, addr, port)->port != 0;
}

/* "10.0.0.2:80", "[fd00::2]:80"; without ":port" when port is 0. */
static void format_addr(char *buf, size_t len, const uint8_t addr[16], uint16_t port)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	char a[INET6_ADDRSTRLEN];
	bool v4 = !memcmp(addr, mapped, 12);

	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr, a, sizeof(a));
	if (!port)
		snprintf(buf, len, "%s", a);
	else if (v4)
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
}

const char *names_endpoint(struct names *n, uint32_t client_netns, const uint8_t addr[16],
			   uint16_t port)
{
	struct endpoint *ep = ep_slot(n, is_loopback(addr) ? client_netns : 0, addr, port);
	char buf[INSITU_NAME_MAX];

	if (ep->port)
		return ep->name;
	for (int i = 0; i < n->n_rules; i++)
		if (rule_matches_endpoint(&n->rules[i], addr, port))
			return n->rules[i].name;
	format_addr(buf, sizeof(buf), addr, port);
	return intern(n, buf);
}

/* Client addresses live in the endpoint table under a key no server can have. */
#define CLIENT_KEY_NETNS 0xffffffffu
#define CLIENT_KEY_PORT 0xffffu

void names_client_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup, const uint8_t addr[16])
{
	struct endpoint *ep;

	if (is_loopback(addr))
		return; /* every namespace has one: says nothing about who */
	ep = ep_slot(n, CLIENT_KEY_NETNS, addr, CLIENT_KEY_PORT);
	if (!ep->port) {
		if (n->n_eps >= EP_SLOTS / 2) {
			n->st.endpoint_full++;
			return;
		}
		ep->netns = CLIENT_KEY_NETNS;
		ep->port = CLIENT_KEY_PORT;
		memcpy(ep->addr, addr, 16);
		n->n_eps++;
	}
	ep->name = node_get(n, netns, pid, comm, cgroup)->name;
}

bool names_client_known(struct names *n, const uint8_t addr[16])
{
	return ep_slot(n, CLIENT_KEY_NETNS, addr, CLIENT_KEY_PORT)->port != 0;
}

const char *names_remote_client(struct names *n, const uint8_t addr[16])
{
	struct endpoint *ep = ep_slot(n, CLIENT_KEY_NETNS, addr, CLIENT_KEY_PORT);
	char buf[INSITU_NAME_MAX];

	if (ep->port)
		return ep->name;

	for (int i = 0; i < n->n_rules; i++)
		if (n->rules[i].has_addr && !n->rules[i].port && !memcmp(n->rules[i].addr, addr, 16))
			return n->rules[i].name;
	format_addr(buf, sizeof(buf), addr, 0);
	return intern(n, buf);
}
