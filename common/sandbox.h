/* A seccomp allow-list for a daemon once its setup is done (issue 9).
 *
 * After sandbox_enter() the process may make only the system calls of its profile;
 * any other fails with EPERM (not a kill: a call we did not foresee on some libc or
 * NSS path makes one operation fail with an error the code already handles, instead
 * of taking the daemon down).  What an attacker who took over the process loses:
 * execve, ptrace, process_vm_*, bpf (insitud), module loading, mount, namespaces, keyrings,
 * raw io, reboot ...  NO_NEW_PRIVS is set first (required by seccomp, and right
 * anyway).  The profile lists are in sandbox.c, one line per reason. */
#ifndef INSITU_SANDBOX_H
#define INSITU_SANDBOX_H

#include <stddef.h>

enum sandbox_profile {
	SANDBOX_INSITUD, /* event loop: Unix and TCP sockets, SQLite, getaddrinfo */
	SANDBOX_OBSERVER, /* insitu-observer after attach: ring buffer, held BPF fds, reporter */
};

/* 0, or -1 with a message in err (unsupported architecture, prctl refused). */
int sandbox_enter(enum sandbox_profile p, char *err, size_t errlen);

/* Number of system calls the profile allows (for messages and tests). */
size_t sandbox_profile_size(enum sandbox_profile p);

#endif
