/* common/sandbox.c: in a child process that entered the insitud profile, what the
 * daemon does still works (files, Unix sockets, memory, time, randomness) and what
 * an attacker would want fails with EPERM (execve, ptrace, process_vm_readv, bpf,
 * unshare, mount); the filter is seen in /proc/self/status. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

/* Runs fn in a child inside the sandbox; returns its exit status (0 = all good). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		char err[200];
		if (sandbox_enter(SANDBOX_INSITUD, err, sizeof err))
			_exit(77);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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

static void test_profile_is_small(void **state)
{
	(void)state;
	/* an allow-list, not a deny-list: well under the ~450 system calls */
	assert_true(sandbox_profile_size(SANDBOX_INSITUD) > 40);
	assert_true(sandbox_profile_size(SANDBOX_INSITUD) < 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_work_still_works),
		cmocka_unit_test(test_attacker_calls_fail),
		cmocka_unit_test(test_profile_is_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
