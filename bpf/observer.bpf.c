// SPDX-License-Identifier: GPL-2.0
/* insitu observer: every message sent or received on AF_INET/AF_INET6 TCP and UDP
 * sockets, plus connection lifecycle and TCP health signals.
 *
 * Shape of the capture (no kprobes/fentry: kernel lockdown forbids them):
 *  - sys_enter: keep only the data syscalls, resolve fd -> file -> socket with the
 *    cheap S_IFSOCK test first, apply the filters, and stash what exit will need
 *    (args, sock, TCP stream position, entry time) per thread in an LRU map;
 *  - sys_exit: when bytes moved, copy the payload (every iovec, every mmsg message)
 *    into a per-CPU scratch buffer, let insitu_extract() pull ids out, and emit one
 *    event per message into the ring buffer;
 *  - TCP tracepoints: state changes (established, failed connects, close), resets
 *    and retransmits.
 * Each hook exists as tp_btf (preferred) and raw_tp; the loader picks by trying.
 *
 * Events go out with BPF_RB_NO_WAKEUP; the consumer is woken only when cfg.wake_bytes
 * are queued (it also polls with a timeout), because a wakeup per event costs more
 * than everything else the capture does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "observer.h"
#include "extract.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EAGAIN 11
#define EINTR 4
#define EINPROGRESS 115
#define MSG_PEEK 2
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#if defined(__TARGET_ARCH_x86)
enum { NR_READ = 0, NR_WRITE = 1, NR_CLOSE = 3, NR_READV = 19, NR_WRITEV = 20, NR_CONNECT = 42,
       NR_ACCEPT = 43, NR_SENDTO = 44, NR_RECVFROM = 45, NR_SENDMSG = 46, NR_RECVMSG = 47,
       NR_ACCEPT4 = 288, NR_RECVMMSG = 299, NR_SENDMMSG = 307 };
#define SYSCALL_ARG_BTF(regs, n)                                                                  \
	((n) == 0 ? (regs)->di : (n) == 1 ? (regs)->si : (n) == 2 ? (regs)->dx :                 \
	 (n) == 3 ? (regs)->r10 : (n) == 4 ? (regs)->r8 : (regs)->r9)
#define SYSCALL_ARG(regs, n)                                                                      \
	((n) == 0 ? BPF_CORE_READ(regs, di) : (n) == 1 ? BPF_CORE_READ(regs, si) :               \
	 (n) == 2 ? BPF_CORE_READ(regs, dx) : (n) == 3 ? BPF_CORE_READ(regs, r10) :              \
	 (n) == 4 ? BPF_CORE_READ(regs, r8) : BPF_CORE_READ(regs, r9))
#elif defined(__TARGET_ARCH_arm64)
enum { NR_READ = 63, NR_WRITE = 64, NR_CLOSE = 57, NR_READV = 65, NR_WRITEV = 66, NR_CONNECT = 203,
       NR_ACCEPT = 202, NR_SENDTO = 206, NR_RECVFROM = 207, NR_SENDMSG = 211, NR_RECVMSG = 212,
       NR_ACCEPT4 = 242, NR_RECVMMSG = 243, NR_SENDMMSG = 269 };
#define SYSCALL_ARG(regs, n) ((n) == 0 ? BPF_CORE_READ(regs, orig_x0) : BPF_CORE_READ(regs, regs[n]))
#define SYSCALL_ARG_BTF(regs, n) ((n) == 0 ? (regs)->orig_x0 : (regs)->regs[n])
#else
#error "insitu observer: syscall numbers for this architecture are missing"
#endif

/* Set by the loader before load (rodata: lets the verifier drop disabled filters). */
const volatile struct insitu_config cfg = {
	.capture = INSITU_PAYLOAD_DEFAULT,
	.wake_bytes = 512 * 1024,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader (--ring-kb) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, INSITU_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* What exit needs from entry, per thread.  LRU: a thread can die inside a syscall. */
struct stash {
	__u64 t_enter;
	__u64 sock_id;
	struct sock *sk;
	__u64 arg1, arg2, arg3, arg4; /* syscall args after the fd (3, 4: sendto/recvfrom only) */
	__u32 nr;       /* enum insitu_syscall */
	__u32 netns;
	__u32 seq;
	__u16 family;
	__u8 proto;
	__u8 port_pending; /* port filter undecided: unconnected UDP, check the peer at exit */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct stash);
} stash SEC(".maps");

/* tp_btf flavour: the same, in task-local storage -- a pointer away from the task
 * instead of an LRU hash update per syscall, and freed with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stash);
} tstash SEC(".maps");

/* Filters (only consulted when the matching cfg.filter_* is set). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[INSITU_COMM_LEN]);
	__type(value, __u8);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} netns SEC(".maps");

/* Sockets used by the threads the pid/comm/cgroup filters let through.  TCP state
 * changes, resets and retransmits happen in whatever context the kernel is in, so
 * with those filters they are reported only for sockets in this set. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} filtered_socks SEC(".maps");

#define THREAD_FILTERS (cfg.filter_pids || cfg.filter_comms || cfg.filter_cgroup)

static __always_inline void sock_remember(const struct sock *sk)
{
	__u64 k = (__u64)sk;
	__u8 one = 1;

	if (THREAD_FILTERS && !bpf_map_lookup_elem(&filtered_socks, &k))
		bpf_map_update_elem(&filtered_socks, &k, &one, BPF_ANY);
}

/* Per-CPU buffers: the payload as gathered from user memory, and the event being
 * built.  Both have slack so variable offsets + lengths stay provably in bounds. */
struct payload_buf {
	__u8 b[INSITU_SCRATCH_SIZE];
};
struct msg_buf {
	struct insitu_msg_event ev;
	__u8 tail[INSITU_IDS_MAX + INSITU_PAYLOAD_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct payload_buf);
} scratch SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct msg_buf);
} msgbuf SEC(".maps");

/* clang 14 may drop a comparison the verifier needs to see: force it in asm. */
#define BOUND(v, max)                                                                             \
	asm volatile("if %[x] <= %[m] goto +1; %[x] = %[m];" : [x] "+r"(v) : [m] "i"(max))

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		(*c)++;
}

static __always_inline void count_n(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += n;
}

/* Wake the consumer each time the queue grows past another multiple of
 * cfg.wake_bytes.  A reader that is awake keeps reading without wakeups (epoll is
 * level-triggered on the ring) and a wakeup costs microseconds, so waking on every
 * record once past the threshold would spend them for nothing; waking only on the
 * first crossing would strand a reader that stopped at a not-yet-committed record
 * while the queue stayed above the threshold. */
static __always_inline __u64 rb_flags(__u32 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 step = cfg.wake_bytes ? cfg.wake_bytes : 1;

	return avail / step != (avail + size) / step ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline __u8 sys_of(long nr)
{
	switch (nr) {
	case NR_READ: return INSITU_SYS_READ;
	case NR_WRITE: return INSITU_SYS_WRITE;
	case NR_READV: return INSITU_SYS_READV;
	case NR_WRITEV: return INSITU_SYS_WRITEV;
	case NR_RECVFROM: return INSITU_SYS_RECVFROM;
	case NR_SENDTO: return INSITU_SYS_SENDTO;
	case NR_RECVMSG: return INSITU_SYS_RECVMSG;
	case NR_SENDMSG: return INSITU_SYS_SENDMSG;
	case NR_RECVMMSG: return INSITU_SYS_RECVMMSG;
	case NR_SENDMMSG: return INSITU_SYS_SENDMMSG;
	case NR_CONNECT: return INSITU_SYS_CONNECT;
	case NR_ACCEPT:
	case NR_ACCEPT4: return INSITU_SYS_ACCEPT;
	case NR_CLOSE: return INSITU_SYS_CLOSE;
	}
	return 0;
}

static __always_inline __u8 dir_of(__u32 sys)
{
	return (sys & 1) ? INSITU_DIR_RECV : INSITU_DIR_SEND; /* odd numbers receive */
}

/* Two ways to read kernel memory, chosen at compile time per program flavour:
 * tp_btf programs dereference BTF pointers directly (plain loads, made safe by the
 * verifier), which is several times cheaper than raw_tp's one bpf_probe_read per
 * field.  Pointers that reach us as plain numbers (an fd table slot, a void *, a
 * sock kept in the stash) become BTF pointers again with bpf_rdonly_cast(); a
 * kernel without that kfunc refuses the tp_btf object and the loader falls back. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define CAST(type, p) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))
#define RD(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))
#define ARG(btf, regs, n) ((btf) ? SYSCALL_ARG_BTF(regs, n) : SYSCALL_ARG(regs, n))

/* fd -> struct file of the current task (NULL when out of range / not open). */
static __always_inline struct file *fd_file(int fd, const bool btf)
{
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (btf) {
		struct task_struct *task = bpf_get_current_task_btf();
		fdt = task->files->fdt;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		fdt = BPF_CORE_READ(task, files, fdt);
	}
	if (!fdt || fd < 0 || (unsigned int)fd >= RD(btf, fdt, max_fds))
		return NULL;
	fds = RD(btf, fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (btf && f)
		f = CAST(struct file, f);
	return f;
}

/* The inet TCP/UDP sock behind fd, or NULL.  Cheapest test first: most read/write
 * calls are on files and pipes, rejected after reading one inode field. */
static __always_inline struct sock *fd_sock(int fd, __u64 *ino, __u16 *family, __u8 *proto,
					    const bool btf)
{
	struct file *f = fd_file(fd, btf);
	struct inode *inode;
	struct socket *so;
	struct sock *sk;
	__u16 type;

	if (!f)
		return NULL;
	inode = RD(btf, f, f_inode);
	if (!inode || (RD(btf, inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = RD(btf, f, private_data);
	if (!so)
		return NULL;
	if (btf)
		so = CAST(struct socket, so);
	sk = RD(btf, so, sk);
	if (!sk)
		return NULL;
	*family = RD(btf, sk, __sk_common.skc_family);
	if (*family != AF_INET && *family != AF_INET6)
		return NULL;
	type = RD(btf, so, type);
	*proto = RD(btf, sk, sk_protocol);
	if (!((type == SOCK_STREAM && *proto == IPPROTO_TCP) ||
	      (type == SOCK_DGRAM && *proto == IPPROTO_UDP)))
		return NULL;
	*ino = RD(btf, inode, i_ino);
	return sk;
}

static __always_inline __u32 sk_netns(const struct sock *sk, const bool btf)
{
	if (btf)
		return sk->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline __u64 sk_ino(const struct sock *sk)
{
	struct socket *so = BPF_CORE_READ(sk, sk_socket);
	struct file *f;

	if (!so)
		return 0;
	f = BPF_CORE_READ(so, file);
	if (!f)
		return 0;
	return BPF_CORE_READ(f, f_inode, i_ino);
}

static __always_inline void sk_tuple(const struct sock *sk, struct insitu_tuple *t, const bool btf)
{
	__u16 family = RD(btf, sk, __sk_common.skc_family);

	t->family = family;
	t->proto = RD(btf, sk, sk_protocol);
	t->lport = RD(btf, sk, __sk_common.skc_num);
	if (!t->lport) /* unhashed on the way to CLOSE: the port is still in inet_sport */
		t->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	t->rport = bpf_ntohs(RD(btf, sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 l = RD(btf, sk, __sk_common.skc_rcv_saddr);
		__u32 r = RD(btf, sk, __sk_common.skc_daddr);
		__builtin_memset(t->laddr, 0, 16);
		__builtin_memset(t->raddr, 0, 16);
		__builtin_memcpy(t->laddr, &l, 4);
		__builtin_memcpy(t->raddr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline void stash_put(__u64 pid_tgid, const struct stash *st, const bool btf)
{
	if (btf) {
		struct stash *sp = bpf_task_storage_get(&tstash, bpf_get_current_task_btf(), 0,
							BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (sp)
			*sp = *st;
	} else {
		bpf_map_update_elem(&stash, &pid_tgid, st, BPF_ANY);
	}
}

/* Moves this thread's stash entry (if any) to *out; false when there is none. */
static __always_inline bool stash_take(__u64 pid_tgid, struct stash *out, const bool btf)
{
	struct stash *sp;

	if (btf) {
		sp = bpf_task_storage_get(&tstash, bpf_get_current_task_btf(), 0, 0);
		if (!sp || !sp->nr)
			return false;
		*out = *sp;
		sp->nr = 0;
		return true;
	}
	sp = bpf_map_lookup_elem(&stash, &pid_tgid);
	if (!sp)
		return false;
	*out = *sp;
	bpf_map_delete_elem(&stash, &pid_tgid);
	return true;
}

static __always_inline bool port_wanted(__u16 a, __u16 b)
{
	return bpf_map_lookup_elem(&ports, &a) || bpf_map_lookup_elem(&ports, &b);
}

/* Filters that depend only on the current thread. */
static __always_inline bool thread_wanted(__u32 tgid)
{
	if (tgid == cfg.self_pid)
		return false;
	if (cfg.filter_pids && !bpf_map_lookup_elem(&pids, &tgid))
		return false;
	if (cfg.filter_cgroup && bpf_get_current_cgroup_id() != cfg.cgroup)
		return false;
	if (cfg.filter_comms) {
		char comm[INSITU_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&comms, comm))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- lifecycle events */

static __always_inline void conn_fill_common(struct insitu_conn_event *e, __u8 type)
{
	__u64 id = bpf_get_current_pid_tgid();

	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.kind = INSITU_EV_CONN;
	e->hdr.version = INSITU_EVENT_VERSION;
	e->hdr.size = sizeof(*e);
	e->t_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->type = type;
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline void conn_fill_tcp(struct insitu_conn_event *e, const struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	e->bytes_received = BPF_CORE_READ(tp, bytes_received);
}

/* Emit a lifecycle event for sk; sock_id 0 means "look it up from sk". */
static __always_inline void emit_conn(const struct sock *sk, __u8 type, __s32 err, __u8 olds,
				      __u8 news, __u64 sock_id, const bool btf)
{
	struct insitu_conn_event e;
	__u32 ns = sk_netns(sk, btf);

	if (cfg.filter_netns && !bpf_map_lookup_elem(&netns, &ns)) {
		count(INSITU_CNT_FILTERED);
		return;
	}
	conn_fill_common(&e, type);
	sk_tuple(sk, &e.t, btf);
	if (cfg.filter_ports && !port_wanted(e.t.lport, e.t.rport)) {
		count(INSITU_CNT_FILTERED);
		return;
	}
	e.netns = ns;
	e.err = err;
	e.old_state = olds;
	e.new_state = news;
	e.sock_id = sock_id ? sock_id : sk_ino(sk);
	conn_fill_tcp(&e, sk);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), rb_flags(sizeof(e))))
		count(INSITU_CNT_DROP);
	else
		count(INSITU_CNT_CONN);
}

/* With thread filters, only sockets those threads used (see filtered_socks). */
static __always_inline bool tp_sock_wanted(const struct sock *sk)
{
	__u64 k = (__u64)sk;

	return !THREAD_FILTERS || bpf_map_lookup_elem(&filtered_socks, &k);
}

static __always_inline int on_set_state(const struct sock *sk, int olds, int news, const bool btf)
{
	__u8 type;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || !tp_sock_wanted(sk))
		return 0;
	if (olds == TCP_SYN_SENT && news == TCP_ESTABLISHED)
		type = INSITU_CONN_ESTABLISHED;
	else if (olds == TCP_SYN_SENT && news == TCP_CLOSE)
		type = INSITU_CONN_CONNECT_FAILED;
	else if (news == TCP_CLOSE && olds != TCP_LISTEN && olds != TCP_SYN_RECV)
		type = INSITU_CONN_CLOSE;
	else
		return 0;
	emit_conn(sk, type, BPF_CORE_READ(sk, sk_err), olds, news, 0, btf);
	if (news == TCP_CLOSE && THREAD_FILTERS) {
		__u64 k = (__u64)sk;
		bpf_map_delete_elem(&filtered_socks, &k);
	}
	return 0;
}

static __always_inline int on_tcp_signal(const struct sock *sk, __u8 type, const bool btf)
{
	if (!sk || !tp_sock_wanted(sk)) /* !sk: a reset answering a packet for no socket */
		return 0;
	emit_conn(sk, type, BPF_CORE_READ(sk, sk_err), 0, 0, 0, btf);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_set_state, const struct sock *sk, int olds, int news)
{
	return on_set_state(sk, olds, news, true);
}
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_set_state, const struct sock *sk, int olds, int news)
{
	return on_set_state(sk, olds, news, false);
}
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(btf_retransmit, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RETRANSMIT, true);
}
SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_retransmit, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RETRANSMIT, false);
}
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(btf_send_reset, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RESET_SENT, true);
}
SEC("raw_tp/tcp_send_reset")
int BPF_PROG(raw_send_reset, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RESET_SENT, false);
}
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(btf_receive_reset, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RESET_RECV, true);
}
SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(raw_receive_reset, const struct sock *sk)
{
	return on_tcp_signal(sk, INSITU_CONN_RESET_RECV, false);
}

/* ---------------------------------------------------------------- syscall entry */

static __always_inline int on_enter(struct pt_regs *regs, long id, const bool btf)
{
	__u8 sys = sys_of(id);
	__u64 pid_tgid, ino = 0;
	struct stash st = {};
	struct sock *sk;
	__u16 family = 0;
	__u8 proto = 0;
	int fd;

	if (!sys)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!thread_wanted(pid_tgid >> 32))
		return 0;
	if (sys == INSITU_SYS_ACCEPT) {
		/* the fd we care about is the one accept returns: resolve it at exit */
		st.t_enter = bpf_ktime_get_ns();
		st.nr = sys;
		stash_put(pid_tgid, &st, btf);
		return 0;
	}
	fd = ARG(btf, regs, 0);
	sk = fd_sock(fd, &ino, &family, &proto, btf);
	if (!sk)
		return 0;
	st.netns = sk_netns(sk, btf);
	if (cfg.filter_netns && !bpf_map_lookup_elem(&netns, &st.netns)) {
		count(INSITU_CNT_FILTERED);
		return 0;
	}
	if (cfg.filter_ports && sys != INSITU_SYS_CONNECT) { /* connect: decided at exit */
		__u16 lport = RD(btf, sk, __sk_common.skc_num);
		__u16 rport = bpf_ntohs(RD(btf, sk, __sk_common.skc_dport));
		if (!port_wanted(lport, rport)) {
			if (proto != IPPROTO_UDP || rport) {
				count(INSITU_CNT_FILTERED);
				return 0;
			}
			st.port_pending = 1;
		}
	}
	sock_remember(sk);
	if (sys == INSITU_SYS_CLOSE) {
		/* the fd is gone at exit: report now */
		emit_conn(sk, INSITU_CONN_SOCK_CLOSE, 0, 0, 0, ino, btf);
		return 0;
	}
	st.t_enter = bpf_ktime_get_ns();
	st.sock_id = ino;
	st.sk = sk;
	st.nr = sys;
	st.family = family;
	st.proto = proto;
	st.arg1 = ARG(btf, regs, 1);
	st.arg2 = ARG(btf, regs, 2);
	if (sys == INSITU_SYS_SENDTO || sys == INSITU_SYS_RECVFROM) { /* flags, address */
		st.arg3 = ARG(btf, regs, 3);
		st.arg4 = ARG(btf, regs, 4);
	}
	if (proto == IPPROTO_TCP && sys != INSITU_SYS_CONNECT) {
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;
		if (btf)
			tp = CAST(struct tcp_sock, sk);
		st.seq = dir_of(sys) == INSITU_DIR_SEND ? RD(btf, tp, write_seq) : RD(btf, tp, copied_seq);
	}
	stash_put(pid_tgid, &st, btf);
	return 0;
}

/* ---------------------------------------------------------------- syscall exit */

/* Everything one message needs, built at exit; lives on the exit handler's stack. */
struct msg_ctx {
	struct stash st;
	__u64 t_exit;
	__s64 ret;
	__u64 vec;      /* mmsg: user struct mmsghdr array */
	__u32 nmsg;     /* mmsg: messages moved */
	__u32 seq;      /* running TCP position across mmsg messages */
	__u64 pid_tgid;
	__u16 mflags;   /* flags for every message of this call */
	/* user structs read while building events: here rather than on the stack */
	struct user_msghdr uh;
	struct mmsghdr mh;
	struct sockaddr_in6 sa;
	struct iovec iov;
};

/* The exit handler's context lives in a per-CPU map, not on the stack: with the
 * bpf_loop callback frames (mmsg, in-kernel extraction) the call chain must stay
 * under 512 bytes of stack on older verifiers (6.1 rounds frames up to 32). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct msg_ctx);
} mctx SEC(".maps");

static __always_inline struct msg_ctx *msg_ctx_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mctx, &zero);
}

/* Peer address from a user sockaddr (UDP datagrams: sendto/recvfrom/msg_name). */
static __always_inline void peer_from_user(struct msg_ctx *m, struct insitu_msg_event *ev,
					   const void *uaddr)
{
	struct sockaddr_in6 *sa = &m->sa;

	if (!uaddr || bpf_probe_read_user(sa, sizeof(*sa), uaddr))
		return;
	if (sa->sin6_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		__builtin_memset(ev->t.raddr, 0, 16);
		__builtin_memcpy(ev->t.raddr, &s4->sin_addr.s_addr, 4);
		ev->t.rport = bpf_ntohs(s4->sin_port);
	} else if (sa->sin6_family == AF_INET6) {
		__builtin_memcpy(ev->t.raddr, &sa->sin6_addr, 16);
		ev->t.rport = bpf_ntohs(sa->sin6_port);
	} else {
		return;
	}
	ev->flags |= INSITU_F_PEER_ADDR;
}

/* Copies len bytes of user memory to p->b[off..]; off < INSITU_PAYLOAD_MAX. */
static __always_inline int copy_part(struct payload_buf *p, __u32 off, const void *src, __u32 len)
{
	BOUND(off, INSITU_PAYLOAD_MAX - 1);
	BOUND(len, INSITU_PAYLOAD_MAX);
	return bpf_probe_read_user(&p->b[off], len, src);
}

/* Gathers up to cap bytes of the first `bytes` bytes spread over a user iovec array. */
static __always_inline __u32 copy_iov(struct msg_ctx *m, struct payload_buf *p,
				      const struct iovec *uiov, __u64 iovcnt,
				      __u64 bytes, __u32 cap, __u16 *flags)
{
	__u32 off = 0;
	__u64 left = bytes < cap ? bytes : cap;

	for (int i = 0; i < INSITU_MAX_IOV; i++) {
		struct iovec *iov = &m->iov;
		__u64 n;

		if (i >= iovcnt || !left)
			break;
		if (bpf_probe_read_user(iov, sizeof(*iov), &uiov[i])) {
			*flags |= INSITU_F_COPY_FAIL;
			break;
		}
		n = iov->iov_len < left ? iov->iov_len : left;
		if (off >= INSITU_PAYLOAD_MAX)
			break;
		if (copy_part(p, off, iov->iov_base, n)) {
			*flags |= INSITU_F_COPY_FAIL;
			break;
		}
		off += n;
		left -= n;
	}
	if (left && iovcnt > INSITU_MAX_IOV) {
		*flags |= INSITU_F_IOV_CUT;
		count(INSITU_CNT_IOV_CUT);
	}
	return off;
}

/* Builds and submits one message event.  iov/iovcnt: the message's user iovecs, or
 * iovcnt == 0 and buf: a flat user buffer of buflen bytes.  name: user sockaddr. */
static __always_inline void emit_msg(struct msg_ctx *m, __u32 bytes, const void *buf, __u64 buflen,
				     const struct iovec *iov, __u64 iovcnt, const void *name,
				     __u16 index, const bool btf)
{
	__u32 zero = 0, cap = 0, ids = 0, size;
	struct payload_buf *p = bpf_map_lookup_elem(&scratch, &zero);
	struct msg_buf *mb = bpf_map_lookup_elem(&msgbuf, &zero);
	struct insitu_msg_event *ev;
	__u32 want = cfg.capture;

	if (!p || !mb)
		return;
	ev = &mb->ev;
	ev->hdr.kind = INSITU_EV_MSG;
	ev->hdr.version = INSITU_EVENT_VERSION;
	ev->t_enter_ns = m->st.t_enter;
	ev->t_exit_ns = m->t_exit;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->sock_id = m->st.sock_id;
	ev->pid = m->pid_tgid >> 32;
	ev->tid = (__u32)m->pid_tgid;
	ev->netns = m->st.netns;
	ev->ret = m->ret;
	ev->bytes = bytes;
	ev->seq = m->seq;
	ev->flags = m->mflags;
	ev->dir = dir_of(m->st.nr);
	ev->syscall = m->st.nr;
	ev->msg_index = index;
	ev->msg_count = m->nmsg ? m->nmsg : 1;
	sk_tuple(btf ? CAST(struct sock, m->st.sk) : m->st.sk, &ev->t, btf);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (m->st.proto == IPPROTO_UDP && name)
		peer_from_user(m, ev, name);
	if (m->st.port_pending && !port_wanted(ev->t.lport, ev->t.rport)) {
		count(INSITU_CNT_FILTERED);
		return;
	}
	if (m->st.proto == IPPROTO_TCP && !(ev->flags & INSITU_F_ERROR))
		ev->flags |= INSITU_F_SEQ_VALID;
	if (m->ret < 0)
		ev->bytes = 0;
	else if (m->ret == 0 && ev->dir == INSITU_DIR_RECV && !m->nmsg)
		ev->flags |= INSITU_F_EOF;

	if (want > INSITU_PAYLOAD_MAX)
		want = INSITU_PAYLOAD_MAX;
	if (bytes && want) {
		if (iovcnt) {
			cap = copy_iov(m, p, iov, iovcnt, bytes, want, &ev->flags);
		} else {
			cap = bytes < want ? bytes : want;
			if (cap > buflen)
				cap = buflen;
			if (copy_part(p, 0, buf, cap)) {
				ev->flags |= INSITU_F_COPY_FAIL;
				cap = 0;
			}
		}
		if (ev->flags & INSITU_F_COPY_FAIL) {
			count(INSITU_CNT_COPY_FAIL);
			cap = 0;
		}
	}
	BOUND(cap, INSITU_PAYLOAD_MAX);
	if (cap < bytes) {
		ev->flags |= INSITU_F_TRUNCATED;
		count(INSITU_CNT_TRUNC);
	}
	if (cap)
		ids = insitu_extract(p->b, cap, bytes, ev->t.family, ev->t.proto, ev->t.lport, ev->t.rport,
				     ev->dir, mb->tail, INSITU_IDS_MAX);
	if (ids > INSITU_IDS_MAX)
		ids = 0;
	BOUND(ids, INSITU_IDS_MAX);
	if (bytes) {
		int io = insitu_ids_only(mb->tail, ids);
		if (io == 1) {
			/* the ids block says everything user space would have extracted */
			ev->flags |= INSITU_F_IDS_ONLY;
			count(INSITU_CNT_IDS_ONLY);
			cap = 0;
		} else if (io == 2) {
			count(INSITU_CNT_IDS_KEPT);
		}
	}
	if (cap)
		bpf_probe_read_kernel(&mb->tail[ids], cap, p->b);
	ev->cap_len = cap;
	ev->ids_len = ids;
	size = sizeof(*ev) + ids + cap;
	BOUND(size, sizeof(*mb));
	ev->hdr.size = size;
	if (bpf_ringbuf_output(&events, mb, size, rb_flags(size)))
		count(INSITU_CNT_DROP);
	else
		count(INSITU_CNT_MSG);
}

/* bpf_loop callback: message i of a sendmmsg/recvmmsg.  bpf_loop passes only a
 * stack pointer, so the context is looked up again in its per-CPU map. */
static __always_inline long mmsg_one(__u32 i, void *data, const bool btf)
{
	struct msg_ctx *m = msg_ctx_get();
	struct mmsghdr *uv;

	if (!m || i >= m->nmsg || i >= INSITU_MAX_MMSG)
		return 1;
	uv = (struct mmsghdr *)m->vec;
	if (bpf_probe_read_user(&m->mh, sizeof(m->mh), &uv[i])) {
		count(INSITU_CNT_COPY_FAIL);
		return 1;
	}
	emit_msg(m, m->mh.msg_len, NULL, 0, m->mh.msg_hdr.msg_iov, m->mh.msg_hdr.msg_iovlen,
		 m->mh.msg_hdr.msg_name, i, btf);
	m->seq += m->mh.msg_len;
	return 0;
}
static long mmsg_one_btf(__u32 i, void *data) { return mmsg_one(i, data, true); }
static long mmsg_one_raw(__u32 i, void *data) { return mmsg_one(i, data, false); }

static __always_inline int on_exit_ctx(struct msg_ctx *mp, long ret, const bool btf)
{
	__u32 sys;

	mp->pid_tgid = bpf_get_current_pid_tgid();
	mp->vec = 0;
	mp->nmsg = 0;
	mp->mflags = 0;
	mp->t_exit = bpf_ktime_get_ns();
	mp->ret = ret;
	mp->seq = mp->st.seq;
	sys = mp->st.nr;

	if (sys == INSITU_SYS_ACCEPT) {
		__u64 ino = 0;
		__u16 family = 0;
		__u8 proto = 0;
		struct sock *sk;

		if (ret < 0)
			return 0;
		sk = fd_sock(ret, &ino, &family, &proto, btf);
		if (sk && proto == IPPROTO_TCP)
			sock_remember(sk);
		if (sk && proto == IPPROTO_TCP)
			emit_conn(sk, INSITU_CONN_ACCEPT, 0, 0, 0, ino, btf);
		return 0;
	}
	if (sys == INSITU_SYS_CONNECT) {
		if (ret == -EINTR)
			return 0;
		emit_conn(btf ? CAST(struct sock, mp->st.sk) : mp->st.sk, ret == 0 || ret == -EINPROGRESS ? INSITU_CONN_CONNECT
								   : INSITU_CONN_CONNECT_FAILED,
			  -ret, 0, 0, mp->st.sock_id, btf);
		return 0;
	}
	if (ret == -EAGAIN || ret == -EINTR)
		return 0;
	if (ret < 0) {
		mp->mflags |= INSITU_F_ERROR;
		emit_msg(mp, 0, NULL, 0, NULL, 0, NULL, 0, btf);
		return 0;
	}

	switch (sys) {
	case INSITU_SYS_READ:
	case INSITU_SYS_WRITE:
		emit_msg(mp, ret, (void *)mp->st.arg1, mp->st.arg2, NULL, 0, NULL, 0, btf);
		break;
	case INSITU_SYS_SENDTO:
		emit_msg(mp, ret, (void *)mp->st.arg1, mp->st.arg2, NULL, 0, (void *)mp->st.arg4, 0, btf);
		break;
	case INSITU_SYS_RECVFROM:
		if (mp->st.arg3 & MSG_PEEK)
			mp->mflags |= INSITU_F_PEEK;
		emit_msg(mp, ret, (void *)mp->st.arg1, mp->st.arg2, NULL, 0, (void *)mp->st.arg4, 0, btf);
		break;
	case INSITU_SYS_READV:
	case INSITU_SYS_WRITEV:
		emit_msg(mp, ret, NULL, 0, (struct iovec *)mp->st.arg1, mp->st.arg2, NULL, 0, btf);
		break;
	case INSITU_SYS_SENDMSG:
	case INSITU_SYS_RECVMSG: {
		if (bpf_probe_read_user(&mp->uh, sizeof(mp->uh), (void *)mp->st.arg1)) {
			count(INSITU_CNT_COPY_FAIL);
			break;
		}
		if (sys == INSITU_SYS_RECVMSG && (mp->st.arg2 & MSG_PEEK))
			mp->mflags |= INSITU_F_PEEK;
		emit_msg(mp, ret, NULL, 0, mp->uh.msg_iov, mp->uh.msg_iovlen, mp->uh.msg_name, 0, btf);
		break;
	}
	case INSITU_SYS_SENDMMSG:
	case INSITU_SYS_RECVMMSG:
		mp->vec = mp->st.arg1;
		mp->nmsg = ret;
		if (ret > INSITU_MAX_MMSG) {
			mp->mflags |= INSITU_F_MMSG_CUT;
			count_n(INSITU_CNT_MMSG_CUT, ret - INSITU_MAX_MMSG);
		}
		bpf_loop(INSITU_MAX_MMSG, btf ? mmsg_one_btf : mmsg_one_raw, NULL, 0);
		break;
	}
	return 0;
}


static __always_inline int on_exit(long ret, const bool btf)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct msg_ctx *mp = msg_ctx_get();

	if (!mp || !stash_take(pid_tgid, &mp->st, btf))
		return 0;
	return on_exit_ctx(mp, ret, btf);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_sys_enter, struct pt_regs *regs, long id)
{
	return on_enter(regs, id, true);
}
SEC("tp_btf/sys_exit")
int BPF_PROG(btf_sys_exit, struct pt_regs *regs, long ret)
{
	return on_exit(ret, true);
}
SEC("raw_tp/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long id)
{
	return on_enter(regs, id, false);
}
SEC("raw_tp/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
	return on_exit(ret, false);
}
