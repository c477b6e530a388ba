/* Dropping what the observer no longer needs once its programs are attached.
 *
 * Loading and attaching BPF programs needs CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN; what
 * follows (reading the ring buffer and maps through descriptors already open, reading
 * /proc and /run/netns, writing the files already open, connecting to insitud's
 * socket as its owner) needs none.  The observer then parses hostile bytes (every
 * payload on the host) for hours: it should do so with no capabilities at all. */
#ifndef INSITU_PRIVDROP_H
#define INSITU_PRIVDROP_H

/* Clears every capability (effective, permitted, inheritable, ambient, bounding set)
 * and sets no_new_privs.  The uid stays 0, so root-owned files (insitud's socket)
 * remain reachable by ownership, not by privilege.  Returns 0, or -1 with errno. */
int drop_privileges(void);

#endif
