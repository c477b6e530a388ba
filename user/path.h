/* Output of request path trees (docs/paths.md): one JSON object per line for
 * programs and the aggregator, and an indented tree for humans.  Pure formatting of
 * a tree the linker hands over (link.h); no state. */
#ifndef INSITU_PATH_H
#define INSITU_PATH_H

#include <stddef.h>
#include <stdio.h>

#include "link.h"

/* One path as one JSON line (terminated by '\n'). */
void path_write_json(FILE *out, const struct lk_hop *root);

/* The same path as an indented tree, one hop per line. */
void path_write_tree(FILE *out, const struct lk_hop *root);

/* "tcp/10.0.0.1:40000>10.0.0.2:80/123456789" or "udp/:5353>:53/<hash>": the key two
 * observers compute identically for the two ends of one hop. */
size_t path_join_key(const struct lk_hop *h, char *buf, size_t n);

/* Space-separated flag names ("ambiguous timeout"), "" if none. */
size_t path_flag_names(unsigned flags, char *buf, size_t n);

/* "ok", "error", "timeout", "closed", "evicted", "incomplete" or "unknown". */
const char *path_hop_outcome(const struct lk_hop *h);

#endif
