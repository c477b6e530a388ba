/* Seccomp allow-lists (sandbox.h).  A classic BPF program: check the architecture,
 * load the system call number, compare it with each allowed one. */
#include "sandbox.h"

#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif


static const long insitud_calls[] = {
	/* the event loop and its sockets (Unix API, TCP peers) */
	SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait,
#ifdef SYS_epoll_wait
	SYS_epoll_wait,
#endif
	SYS_socket, SYS_bind, SYS_listen, SYS_accept4, SYS_connect, SYS_shutdown, SYS_getsockopt,
	SYS_setsockopt, SYS_getsockname, SYS_getpeername, SYS_sendto, SYS_recvfrom, SYS_sendmsg,
	SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_socketpair, SYS_ppoll, SYS_pselect6,
#ifdef SYS_poll
	SYS_poll,
#endif
	/* files: SQLite (database, WAL, shm, journal), the socket file, /etc for NSS */
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_lseek, SYS_close,
	SYS_openat, SYS_newfstatat, SYS_fstat, SYS_statx, SYS_fcntl, SYS_flock, SYS_fsync, SYS_fdatasync,
	SYS_ftruncate, SYS_fallocate, SYS_unlinkat, SYS_renameat, SYS_faccessat, SYS_getcwd, SYS_readlinkat,
	SYS_mkdirat, SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fchownat, SYS_umask, SYS_getdents64, SYS_ioctl,
	SYS_fstatfs, SYS_statfs,
#ifdef SYS_open
	SYS_open, SYS_stat, SYS_lstat, SYS_unlink, SYS_rename, SYS_access, SYS_readlink, SYS_mkdir,
	SYS_chmod,
#endif
#ifdef SYS_faccessat2
	SYS_faccessat2,
#endif
#ifdef SYS_renameat2
	SYS_renameat2,
#endif
	/* memory */
	SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_brk,
	/* time, randomness (libsodium nonces), identity, limits */
	SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday, SYS_nanosleep, SYS_clock_nanosleep,
	SYS_getrandom, SYS_getpid, SYS_gettid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_getgroups, SYS_getppid, SYS_uname, SYS_prlimit64, SYS_getrlimit, SYS_sysinfo,
	SYS_sched_yield, SYS_sched_getaffinity, SYS_futex, SYS_rseq, SYS_set_robust_list,
#ifdef SYS_time
	SYS_time,
#endif
	/* signals, and dying properly (abort() raises SIGABRT with tgkill) */
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_restart_syscall,
	SYS_tgkill, SYS_exit, SYS_exit_group,
};

/* insitu-observer after attach: its capabilities are already dropped, so bpf() here
 * reaches only the maps and programs whose fds it holds (no loading, no attaching). */
static const long observer_calls[] = {
	/* the ring buffer: epoll on its fd, mmap of its pages (setup, but also re-polled) */
	SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait,
#ifdef SYS_epoll_wait
	SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait2
	SYS_epoll_pwait2,
#endif
	/* --stats counters (map lookups), run time (BPF_OBJ_GET_INFO_BY_FD) on held fds */
	SYS_bpf,
	/* the reporter's Unix socket to insitud (connect, reconnect), peers' names */
	SYS_socket, SYS_connect, SYS_shutdown, SYS_getsockopt, SYS_setsockopt, SYS_getsockname,
	SYS_getpeername, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_ppoll, SYS_pselect6,
#ifdef SYS_poll
	SYS_poll,
#endif
	/* files: --dump/--record output, /proc/PID/comm and cgroup names, /etc for NSS */
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_lseek, SYS_close,
	SYS_openat, SYS_newfstatat, SYS_fstat, SYS_statx, SYS_fcntl, SYS_fsync, SYS_fdatasync,
	SYS_ftruncate, SYS_faccessat, SYS_getcwd, SYS_readlinkat, SYS_getdents64, SYS_ioctl,
	SYS_fstatfs, SYS_statfs, SYS_name_to_handle_at,
#ifdef SYS_open
	SYS_open, SYS_stat, SYS_lstat, SYS_access, SYS_readlink,
#endif
#ifdef SYS_faccessat2
	SYS_faccessat2,
#endif
	/* memory */
	SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_brk,
	/* time, randomness, identity, limits */
	SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday, SYS_nanosleep, SYS_clock_nanosleep,
	SYS_getrandom, SYS_getpid, SYS_gettid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_getppid, SYS_uname, SYS_prlimit64, SYS_getrlimit, SYS_sysinfo, SYS_sched_yield,
	SYS_sched_getaffinity, SYS_futex, SYS_rseq, SYS_set_robust_list,
#ifdef SYS_time
	SYS_time,
#endif
	/* signals, and dying properly (abort() raises SIGABRT with tgkill) */
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_restart_syscall,
	SYS_tgkill, SYS_exit, SYS_exit_group,
};

static const long *profile_calls(enum sandbox_profile p, size_t *n)
{
	switch (p) {
	case SANDBOX_INSITUD:
		*n = sizeof insitud_calls / sizeof insitud_calls[0];
		return insitud_calls;
	case SANDBOX_OBSERVER:
		*n = sizeof observer_calls / sizeof observer_calls[0];
		return observer_calls;
	}
	*n = 0;
	return NULL;
}

size_t sandbox_profile_size(enum sandbox_profile p)
{
	size_t n;
	profile_calls(p, &n);
	return n;
}

int sandbox_enter(enum sandbox_profile p, char *err, size_t errlen)
{
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world with ptrace at exit: a sanitizer build runs
	 * without the filter (make SAN=1 is for finding memory errors) */
	(void)p;
	snprintf(err, errlen, "seccomp sandbox: not under AddressSanitizer");
	return -1;
#elif !defined(SANDBOX_ARCH)
	(void)p;
	snprintf(err, errlen, "seccomp sandbox: this architecture is not supported");
	return -1;
#else
	struct sock_filter prog[4 + 2 * 128 + 2];
	size_t n, k = 0;
	const long *calls = profile_calls(p, &n);
	struct sock_fprog fp;

	if (!calls || n > 128) {
		snprintf(err, errlen, "seccomp sandbox: bad profile");
		return -1;
	}
	/* another architecture's calling convention: refuse everything */
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	/* x32 numbers (bit 30) never match an allowed 64-bit number: they fall through */
	for (size_t i = 0; i < n; i++) {
		prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)calls[i], 0, 1);
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	fp.len = (unsigned short)k;
	fp.filter = prog;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, errlen, "seccomp sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0)) {
		snprintf(err, errlen, "seccomp sandbox: %s", strerror(errno));
		return -1;
	}
	return 0;
#endif
}
