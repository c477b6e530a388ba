/* common/sandbox.c: in a child process that entered the insitud profile, what the
 * daemon does still works (files, Unix sockets, memory, time, randomness) and what
 * an attacker would want fails with EPERM (execve, ptrace, process_vm_readv, bpf,
 * unshare, mount); the filter is seen in /proc/self/status.  The same for the
 * observer's profile: epoll, bpf() on a map fd opened before, /proc reads, a Unix
 * connect to insitud's socket work; execve, ptrace, mount ... fail. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

/* Runs fn in a child inside the sandbox; returns its exit status (0 = all good). */
static int in_child_of(enum sandbox_profile p, int (*fn)(void))
{
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		char err[200];
		if (sandbox_enter(p, err, sizeof err))
			_exit(77);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int in_child(int (*fn)(void))
{
	return in_child_of(SANDBOX_INSITUD, fn);
}

/* 1 when the sandbox can be entered here.  In a sanitizer build it must refuse,
 * saying why (LeakSanitizer needs ptrace): that is checked instead. */
static int usable(void)
{
	char err[200] = "";
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		if (sandbox_enter(SANDBOX_INSITUD, err, sizeof err) == 0)
			_exit(0);
		_exit(strstr(err, "AddressSanitizer") ? 1 : 2);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
#if defined(__SANITIZE_ADDRESS__)
	assert_int_equal(WEXITSTATUS(st), 1);
#else
	assert_int_equal(WEXITSTATUS(st), 0);
#endif
	return WEXITSTATUS(st) == 0;
}

static int daemon_work(void)
{
	char buf[64], path[] = "/tmp/insitu-sandbox-XXXXXX";
	int sv[2], fd;
	void *m;

	fd = mkstemp(path);
	if (fd < 0 || write(fd, "x", 1) != 1 || fdatasync(fd) || pread(fd, buf, 1, 0) != 1 || unlink(path))
		return 1;
	close(fd);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || send(sv[0], "hi", 2, 0) != 2 || recv(sv[1], buf, 2, 0) != 2)
		return 2;
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 1 << 20))
		return 3;
	if (getrandom(buf, 16, 0) != 16)
		return 4;
	return 0;
}

/* What the observer holds when it enters its profile: a BPF map (needs root to
 * create; -1 otherwise) and a listening Unix socket standing for insitud's. */
static int held_map = -1, held_pair[2] = {-1, -1}; /* the ring buffer's stand-in */
static char insitud_sock[108];

static int bpf_call(int cmd, union bpf_attr *a)
{
	return (int)syscall(SYS_bpf, cmd, a, sizeof *a);
}

static int observer_work(void)
{
	struct epoll_event ev = {.events = EPOLLIN}, out;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[64];
	int ep, fd;

	/* the ring buffer's loop: epoll on a descriptor already open */
	if (write(held_pair[0], "e", 1) != 1)
		return 1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, held_pair[1], &ev) || epoll_wait(ep, &out, 1, 1000) != 1)
		return 2;
	/* names: /proc/PID/comm */
	fd = open("/proc/self/comm", O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
		return 3;
	close(fd);
	/* --stats: a lookup in a map whose fd it holds */
	if (held_map >= 0) {
		uint32_t key = 0;
		uint64_t val = 0;
		union bpf_attr a = {0};
		a.map_fd = (uint32_t)held_map;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&val;
		if (bpf_call(BPF_MAP_LOOKUP_ELEM, &a) || val != 42)
			return 4;
	}
	/* the reporter: connect to insitud's socket and send */
	strcpy(sa.sun_path, insitud_sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) || send(fd, "r", 1, MSG_NOSIGNAL) != 1)
		return 5;
	close(fd);
	return 0;
}

static int attacker_work(void)
{
	char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
	char line[256];
	int seccomp = -1;
	FILE *f;

	execve("/bin/true", argv, envp);
	if (errno != EPERM)
		return 10;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		return 11;
	if (syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0) != -1 || errno != EPERM)
		return 12;
	if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
		return 13;
	if (syscall(SYS_unshare, 0) != -1 || errno != EPERM)
		return 14;
	if (syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 15;
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "Seccomp:", 8))
			seccomp = atoi(line + 8);
	if (f)
		fclose(f);
	return seccomp == 2 ? 0 : 16;
}

static void test_daemon_work_still_works(void **state)
{
	(void)state;
	if (usable())
		assert_int_equal(in_child(daemon_work), 0);
}

static void test_attacker_calls_fail(void **state)
{
	(void)state;
	if (usable())
		assert_int_equal(in_child(attacker_work), 0);
}

/* The observer's attacker: the same, except that bpf() is allowed (map lookups;
 * without capabilities it cannot load or attach anything). */
static int observer_attacker_work(void)
{
	char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};

	execve("/bin/true", argv, envp);
	if (errno != EPERM)
		return 10;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		return 11;
	if (syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0) != -1 || errno != EPERM)
		return 12;
	if (syscall(SYS_unshare, 0) != -1 || errno != EPERM)
		return 14;
	if (syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 15;
	if (syscall(SYS_bind, 0, NULL, 0) != -1 || errno != EPERM) /* no listening */
		return 17;
	return 0;
}

static void test_observer_work_still_works(void **state)
{
	union bpf_attr a = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd;

	(void)state;
	if (!usable())
		return;
	/* a map as the loader would have made it (root only: else that part is skipped) */
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 1;
	held_map = bpf_call(BPF_MAP_CREATE, &a);
	if (held_map >= 0) {
		uint32_t key = 0;
		uint64_t val = 42;
		memset(&a, 0, sizeof a);
		a.map_fd = (uint32_t)held_map;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&val;
		assert_int_equal(bpf_call(BPF_MAP_UPDATE_ELEM, &a), 0);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, held_pair), 0);
	snprintf(insitud_sock, sizeof insitud_sock, "/tmp/insitu-sandbox-%d.sock", (int)getpid());
	strcpy(sa.sun_path, insitud_sock);
	unlink(insitud_sock);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(in_child_of(SANDBOX_OBSERVER, observer_work), 0);
	close(lfd);
	close(held_pair[0]);
	close(held_pair[1]);
	unlink(insitud_sock);
	if (held_map >= 0)
		close(held_map);
	held_map = -1;
}

static void test_observer_attacker_calls_fail(void **state)
{
	(void)state;
	if (usable())
		assert_int_equal(in_child_of(SANDBOX_OBSERVER, observer_attacker_work), 0);
}

static void test_profile_is_small(void **state)
{
	(void)state;
	/* an allow-list, not a deny-list: well under the ~450 system calls */
	assert_true(sandbox_profile_size(SANDBOX_INSITUD) > 40);
	assert_true(sandbox_profile_size(SANDBOX_INSITUD) < 128);
	assert_true(sandbox_profile_size(SANDBOX_OBSERVER) > 40);
	assert_true(sandbox_profile_size(SANDBOX_OBSERVER) < sandbox_profile_size(SANDBOX_INSITUD));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_work_still_works),
		cmocka_unit_test(test_attacker_calls_fail),
		cmocka_unit_test(test_observer_work_still_works),
		cmocka_unit_test(test_observer_attacker_calls_fail),
		cmocka_unit_test(test_profile_is_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
