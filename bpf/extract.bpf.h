/* In-kernel ID extraction, called by bpf/observer.bpf.c for every captured message.
 *
 * INITIAL STUB written by the observer part; from now on this file belongs to the
 * semantics part (which defines the ids block format and the rule map(s) here).
 *
 * Contract (see docs/events.md, "ids block"):
 *
 *   static __always_inline __u32
 *   insitu_extract(const __u8 *payload, __u32 cap_len, __u16 family, __u8 proto,
 *                  __u16 lport, __u16 rport, __u8 dir, __u8 *out, __u32 room);
 *
 *   payload  the captured payload prefix, in a per-CPU scratch buffer of
 *            INSITU_SCRATCH_SIZE (= 2 * INSITU_PAYLOAD_MAX) bytes: any read of
 *            n <= INSITU_PAYLOAD_MAX bytes at an offset masked with
 *            (INSITU_PAYLOAD_MAX - 1) is in bounds for the verifier; only the first
 *            cap_len bytes are this message's (cap_len <= INSITU_PAYLOAD_MAX).
 *   family   AF_INET / AF_INET6;  proto IPPROTO_TCP / IPPROTO_UDP
 *   lport, rport  local and remote port, host order
 *   dir      INSITU_DIR_SEND / INSITU_DIR_RECV
 *   out      where to write the ids block, inside the event being built (per-CPU);
 *            writes at offsets masked with (INSITU_IDS_MAX - 1) are in bounds
 *   room     bytes available at out (== INSITU_IDS_MAX)
 *
 *   returns  bytes written to out (0 = no ids; values > room are clamped to 0).
 *
 * Rule maps declared here are found by user space by name through the loaded
 * bpf_object (observer_bpf_object() in user/observer_loader.h) and filled before
 * the programs are attached.
 */
#ifndef INSITU_EXTRACT_BPF_H
#define INSITU_EXTRACT_BPF_H

static __always_inline __u32 insitu_extract(const __u8 *payload, __u32 cap_len, __u16 family,
					    __u8 proto, __u16 lport, __u16 rport, __u8 dir,
					    __u8 *out, __u32 room)
{
	return 0;
}

#endif
