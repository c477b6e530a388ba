/* The contract between insitu's kernel programs (bpf/observer.bpf.c) and user space.
 *
 * Every record in the ring buffer (and in a --record file) starts with a
 * struct insitu_ev_hdr that says what it is, which version of this header wrote it
 * and how many bytes it occupies in total.  Readers dispatch on hdr.kind, refuse a
 * record whose hdr.version they do not know, and skip hdr.size bytes to get to the
 * next one, so a new kind of record never breaks an old reader.
 *
 * Evolution rules (see docs/events.md):
 *  - adding a field at the END of a struct, or a new flag/enum value: same version;
 *    readers check hdr.size before reading fields they did not always have;
 *  - changing, moving or removing a field: bump INSITU_EVENT_VERSION.
 *
 * Message events are a fixed header followed by a variable tail:
 *
 *     [struct insitu_msg_event][ids block: ids_len bytes][payload: cap_len bytes]
 *
 * The ids block is written in the kernel by insitu_extract() (bpf/extract.bpf.h,
 * owned by the semantics part, which also defines its format); it is empty when no
 * rule matched.  hdr.size == sizeof(struct insitu_msg_event) + ids_len + cap_len.
 *
 * Integers are in host byte order, ports included; addresses are in network order
 * (IPv4 in the first 4 bytes of the 16-byte field, the rest zero).
 *
 * This header is included by BPF code (types from vmlinux.h) and by user code
 * (types from linux/types.h): use only __u8.. __u64 / __s32 here.
 */
#ifndef INSITU_OBSERVER_H
#define INSITU_OBSERVER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define INSITU_EVENT_VERSION 1

#define INSITU_COMM_LEN 16
#define INSITU_PAYLOAD_DEFAULT 512  /* default --capture bytes per message */
#define INSITU_PAYLOAD_MAX 4096     /* largest configurable payload prefix (power of 2) */
#define INSITU_IDS_MAX 256          /* room insitu_extract() may fill (power of 2) */
#define INSITU_SCRATCH_SIZE (2 * INSITU_PAYLOAD_MAX) /* per-CPU payload buffer, with verifier slack */
#define INSITU_MAX_IOV 8            /* iovecs walked per message (payload gathered across them) */
#define INSITU_MAX_MMSG 16          /* messages of one sendmmsg/recvmmsg reported */

enum insitu_ev_kind {
	INSITU_EV_MSG = 1,  /* struct insitu_msg_event + tail */
	INSITU_EV_CONN = 2, /* struct insitu_conn_event */
};

/* Direction of a message as seen by the process that made the syscall. */
enum insitu_dir {
	INSITU_DIR_SEND = 1, /* write, writev, send, sendto, sendmsg, sendmmsg */
	INSITU_DIR_RECV = 2, /* read, readv, recv, recvfrom, recvmsg, recvmmsg */
};

/* Which system call carried the message (send/recv are sendto/recvfrom on x86_64). */
enum insitu_syscall {
	INSITU_SYS_READ = 1,
	INSITU_SYS_WRITE = 2,
	INSITU_SYS_READV = 3,
	INSITU_SYS_WRITEV = 4,
	INSITU_SYS_RECVFROM = 5,
	INSITU_SYS_SENDTO = 6,
	INSITU_SYS_RECVMSG = 7,
	INSITU_SYS_SENDMSG = 8,
	INSITU_SYS_RECVMMSG = 9,
	INSITU_SYS_SENDMMSG = 10,
	INSITU_SYS_CONNECT = 11, /* only in connection events */
	INSITU_SYS_ACCEPT = 12,  /* accept and accept4; only in connection events */
	INSITU_SYS_CLOSE = 13,   /* only in connection events */
	INSITU_SYS_MAX = 14,
};

/* insitu_msg_event.flags */
enum insitu_msg_flag {
	INSITU_F_TRUNCATED = 1 << 0, /* cap_len < bytes: payload is only a prefix */
	INSITU_F_SEQ_VALID = 1 << 1, /* seq holds the TCP stream position of the first byte */
	INSITU_F_ERROR = 1 << 2,     /* the call failed: ret is -errno, bytes is 0 */
	INSITU_F_EOF = 1 << 3,       /* a receive returned 0 (TCP: peer closed its side) */
	INSITU_F_PEEK = 1 << 4,      /* MSG_PEEK: the bytes will be read again */
	INSITU_F_IOV_CUT = 1 << 5,   /* more than INSITU_MAX_IOV iovecs: payload from the first ones only */
	INSITU_F_MMSG_CUT = 1 << 6,  /* the (s|r)mmsg call moved more than INSITU_MAX_MMSG messages */
	INSITU_F_PEER_ADDR = 1 << 7, /* remote address came from sendto/recvfrom/msg_name */
	INSITU_F_COPY_FAIL = 1 << 8, /* reading the user buffer failed: cap_len is 0 */
	INSITU_F_IDS_ONLY = 1 << 9,  /* --payload=ids: the ids block is complete, the payload was
	                                left out on purpose (cap_len 0; F_TRUNCATED still says
	                                whether the extraction saw only a prefix) */
};

/* The connection a message or lifecycle event belongs to.  For unconnected UDP the
 * remote side is the datagram's peer (sendto/recvfrom address, msg_name) and the
 * local address may be the wildcard (all zero). */
struct insitu_tuple {
	__u8 laddr[16]; /* network order; IPv4 in laddr[0..3] */
	__u8 raddr[16];
	__u16 lport;    /* host order */
	__u16 rport;
	__u16 family;   /* AF_INET (2) or AF_INET6 (10) */
	__u8 proto;     /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
	__u8 _pad;
};

struct insitu_ev_hdr {
	__u16 kind;    /* enum insitu_ev_kind */
	__u16 version; /* INSITU_EVENT_VERSION of the writer */
	__u32 size;    /* total bytes of this record, header and tail included */
};

/* One message: one syscall on one socket, or one message of a sendmmsg/recvmmsg. */
struct insitu_msg_event {
	struct insitu_ev_hdr hdr;
	__u64 t_enter_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at syscall entry */
	__u64 t_exit_ns;   /* ... at syscall exit */
	__u64 cgroup_id;   /* cgroup v2 id of the thread */
	__u64 sock_id;     /* socket inode number (as in /proc/PID/fd -> socket:[N] and ss -e "ino:") */
	__u32 pid;         /* process (tgid) */
	__u32 tid;         /* thread */
	__u32 netns;       /* inode number of the socket's network namespace */
	__s32 ret;         /* syscall return value: bytes, message count (mmsg), or -errno */
	__u32 bytes;       /* bytes of THIS message (mmsg: its msg_len); 0 on error */
	__u32 seq;         /* TCP: sequence number (mod 2^32) of the first byte (F_SEQ_VALID) */
	__u16 cap_len;     /* payload bytes in the tail (<= configured capture) */
	__u16 ids_len;     /* ids bytes in the tail, before the payload */
	__u16 flags;       /* enum insitu_msg_flag */
	__u8 dir;          /* enum insitu_dir */
	__u8 syscall;      /* enum insitu_syscall */
	__u16 msg_index;   /* index within sendmmsg/recvmmsg, else 0 */
	__u16 msg_count;   /* messages the call moved (mmsg), else 1 */
	struct insitu_tuple t;
	char comm[INSITU_COMM_LEN];
	__u32 _reserved;   /* zero; keeps the size a multiple of 8 with no hidden padding */
	/* __u8 ids[ids_len]; __u8 payload[cap_len]; */
};

/* Connection lifecycle and TCP health signals. */
enum insitu_conn_type {
	INSITU_CONN_CONNECT = 1,     /* connect() returned 0 or -EINPROGRESS (err = its errno) */
	INSITU_CONN_ESTABLISHED = 2, /* TCP active open completed (SYN_SENT -> ESTABLISHED) */
	INSITU_CONN_ACCEPT = 3,      /* accept()/accept4() returned a new TCP socket */
	INSITU_CONN_CONNECT_FAILED = 4, /* SYN_SENT -> CLOSE, or connect() failed: err = ECONNREFUSED, ETIMEDOUT.. */
	INSITU_CONN_CLOSE = 5,       /* TCP state reached CLOSE (after being connected) */
	INSITU_CONN_RESET_SENT = 6,  /* tcp_send_reset */
	INSITU_CONN_RESET_RECV = 7,  /* tcp_receive_reset */
	INSITU_CONN_RETRANSMIT = 8,  /* tcp_retransmit_skb */
	INSITU_CONN_SOCK_CLOSE = 9,  /* close() of a TCP/UDP socket fd by the process */
};

struct insitu_conn_event {
	struct insitu_ev_hdr hdr;
	__u64 t_ns;        /* bpf_ktime_get_ns() */
	__u64 cgroup_id;   /* of the current thread; see pid */
	__u64 sock_id;     /* socket inode number, 0 when the sock has no socket yet/anymore */
	__u32 pid;         /* current thread: the caller for syscalls, but often an unrelated
	                      task or 0 (softirq) for TCP state changes, resets, retransmits */
	__u32 tid;
	__u32 netns;
	__s32 err;         /* errno (positive) for CONNECT*, sk_err for others, else 0 */
	__u32 srtt_us;     /* TCP smoothed RTT (us) when known, else 0 */
	__u32 total_retrans; /* TCP retransmitted segments so far on this connection */
	__u8 type;         /* enum insitu_conn_type */
	__u8 old_state;    /* TCP states (TCP_ESTABLISHED=1 ..) for state changes, else 0 */
	__u8 new_state;
	__u8 _pad;
	__u32 _reserved;   /* zero */
	__u64 bytes_acked;   /* TCP bytes sent and acknowledged so far */
	__u64 bytes_received;/* TCP bytes received so far */
	struct insitu_tuple t;
	char comm[INSITU_COMM_LEN];
};

/* Per-CPU counters (map "counters", an array of INSITU_CNT_MAX __u64, per CPU). */
enum insitu_counter {
	INSITU_CNT_MSG = 0,        /* message events submitted */
	INSITU_CNT_CONN,           /* connection events submitted */
	INSITU_CNT_DROP,           /* events lost: ring buffer full */
	INSITU_CNT_TRUNC,          /* messages with a truncated payload */
	INSITU_CNT_FILTERED,       /* socket syscalls skipped by a filter */
	INSITU_CNT_STASH_MISS,     /* exits without a matching entry (thread began before attach, LRU evicted) */
	INSITU_CNT_COPY_FAIL,      /* user buffer not readable */
	INSITU_CNT_MMSG_CUT,       /* mmsg messages beyond INSITU_MAX_MMSG not reported */
	INSITU_CNT_IOV_CUT,        /* messages whose iovecs beyond INSITU_MAX_IOV were not captured */
	INSITU_CNT_IDS_ONLY,       /* --payload=ids: messages sent with ids and no payload */
	INSITU_CNT_IDS_KEPT,       /* --payload=ids: messages that kept their payload (no kernel
	                              rule matched, or the type needs user-space rules) */
	INSITU_CNT_MAX,
};

/* Run-time configuration (map "config", one entry), set by the loader before attach. */
struct insitu_config {
	__u32 self_pid;      /* never trace this process (the observer) */
	__u32 capture;       /* payload prefix per message, <= INSITU_PAYLOAD_MAX */
	__u32 wake_bytes;    /* wake the consumer when this much data is queued */
	__u8 filter_ports;   /* 1: only sockets whose local or remote port is in map "ports" */
	__u8 filter_pids;    /* 1: only processes in map "pids" */
	__u8 filter_comms;   /* 1: only threads whose comm is in map "comms" */
	__u8 filter_cgroup;  /* 1: only cgroup_id == cgroup */
	__u8 filter_netns;   /* 1: only sockets whose netns is in map "netns" */
	__u8 _pad[3];
	__u64 cgroup;
};

/* The layout is the contract: a change here must bump INSITU_EVENT_VERSION. */
_Static_assert(sizeof(struct insitu_msg_event) == 136, "insitu_msg_event layout changed");
_Static_assert(sizeof(struct insitu_conn_event) == 136, "insitu_conn_event layout changed");

#endif
