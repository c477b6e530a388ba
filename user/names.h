/* Component names: who is the observer and who the subject of an observation.
 *
 * By default a component is named from what is observed:
 *     <comm>@<host>:<port>   a process serving on <port> (its first server port seen)
 *     <comm>@<host>          a process seen only as a client
 *     <addr>:<port>          a server never seen from its own side (another machine)
 * where <host> is the network namespace's name under /run/netns (ip netns), the
 * machine's hostname for the namespace the observer runs in, else "ns<inode>".
 *
 * An operator overrides this with a names file (JSON, see docs/health.md):
 *     [{"name": "frontend", "netns": "web1"},
 *      {"name": "cache", "port": 6379},
 *      {"name": "payments", "addr": "10.0.0.7", "port": 8443},
 *      {"name": "batch", "comm": "python3", "cgroup": "/sys/fs/cgroup/batch.slice"}]
 * The first rule whose every given field matches wins.
 *
 * Names are interned: the same component always yields the same pointer, valid until
 * names_free(), so later stages compare names by pointer.  All tables are bounded;
 * what did not fit is counted (names_stats). */
#ifndef INSITU_NAMES_H
#define INSITU_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct names;

struct names_stats {
	uint64_t interned;      /* distinct names */
	uint64_t intern_full;   /* names refused: table full ("(other)" used) */
	uint64_t node_resets;   /* node table wiped because it was full */
	uint64_t endpoint_full; /* server endpoints not remembered: table full */
	uint64_t ns_scans;      /* /run/netns scans */
	uint64_t cgroup_renames; /* processes renamed once their cgroup was seen */
};

struct names *names_new(void);
void names_free(struct names *n);

/* Live observation (not a replay): a process is named after its main thread's
 * comm from /proc, not after whichever of its threads was seen first (named's
 * threads are "isc-net-0000", "isc-net-0001", ...).  Off by default, because in a
 * replay /proc describes today's processes, not the recorded ones. */
void names_set_live(struct names *n, bool live);

/* Loads override rules; returns 0, or -1 with "file:line:col: message" in err (and
 * none of the file's rules kept).  _buffer: the same from memory, path only names
 * the text in messages. */
int names_load_rules(struct names *n, const char *path, char *err, size_t errlen);
int names_load_rules_buffer(struct names *n, const char *path, const char *text, size_t len,
			    char *err, size_t errlen);

/* Cgroup rules apply to a process once its cgroup v2 id (the cgroup directory's
 * inode, as in the observer's events) is known: names_cgroup_seen() tells it (cheap
 * when no rule names a cgroup; call it with each event's cgroup).  A process first
 * named without its cgroup is renamed then, its server endpoints with it. */
bool names_cgroups_matter(const struct names *n);
void names_cgroup_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup);

/* The component a process is (as observer, or as a server once its port is known).
 * cgroup 0: not known here (a cgroup seen earlier still applies). */
const char *names_node(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup);

/* A process was seen serving on addr:port (the local end of a connection on which it
 * received requests): from now on it is named with that port, and clients reaching
 * addr:port name it the same way.  addr is 16 bytes (IPv4-mapped for IPv4). */
void names_server_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup, const uint8_t addr[16], uint16_t port);

/* Has a process been seen serving at addr:port (as reached from client_netns)?
 * When not, names_endpoint() can only name it by its address. */
bool names_endpoint_known(struct names *n, uint32_t client_netns, const uint8_t addr[16],
			  uint16_t port);

/* The component a client in client_netns reaches at addr:port. */
const char *names_endpoint(struct names *n, uint32_t client_netns, const uint8_t addr[16],
			   uint16_t port);

/* A process was seen as a client with local address addr: a server that sees a
 * request from addr, but not the client's own side of it, names the client so. */
void names_client_seen(struct names *n, uint32_t netns, uint32_t pid, const char *comm,
		       uint64_t cgroup, const uint8_t addr[16]);

/* Has a watched process been seen as a client with local address addr? */
bool names_client_known(struct names *n, const uint8_t addr[16]);

/* A client seen only from the server's side: the process last seen using addr, else
 * the address itself (another machine). */
const char *names_remote_client(struct names *n, const uint8_t addr[16]);

/* Host name of a network namespace ("ns<inode>" when it has none). */
const char *names_host(struct names *n, uint32_t netns);

const struct names_stats *names_stats(const struct names *n);

#endif
