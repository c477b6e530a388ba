#!/usr/bin/env python3
"""Scores linked request paths against ground truth (the accuracy harness's judge).

usage: link_score.py PATHS.jsonl TRUTH.txt TIERS ID_REGEX [--min-correct P] [--max-mis P]

PATHS.jsonl  what insitu-link / insitu-observer --paths printed (docs/paths.md)
TRUTH.txt    one ground-truth request id per line (from the system's own logs)
TIERS        comma-separated server thread names (regexes, matched at the start)
             along the chain, e.g.
             nginx,python3,redis-server: request X is linked correctly when one path
             has a root hop served by tier 0 carrying X, whose child served by tier 1
             carries X, whose child served by tier 2 carries X ..., and nothing in
             that path carries another id
ID_REGEX     extracts a hop's id from its label (group 1)

A request is mis-stitched when any hop carrying its id hangs in a path whose root
carries another id, or its path holds hops of another id; orphaned when it is
neither correct nor mis-stitched (parts missing or unlinked).  An orphan one of
whose hops lacks an end that is watched (the kernel side missed that message) is
also counted as "not fully captured".  Prints one line of figures, and exits 1 if
--max-mis (percent of all requests) or --min-correct (percent of the fully captured
requests: the linker's own accuracy) is not met.
"""
import json
import os
import re
import sys


def main(argv):
    args = argv[1:]
    bounds = {}
    for flag in ("--min-correct", "--max-mis"):
        if flag in args:
            i = args.index(flag)
            bounds[flag] = float(args[i + 1])
            del args[i:i + 2]
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    paths_file, truth_file, tiers_s, id_re = args
    tiers = tiers_s.split(",")
    rx = re.compile(id_re)

    def hop_id(h):
        m = rx.search(h.get("label", "")) or rx.search(h.get("link_id", ""))
        return m.group(1) if m else None

    paths = []
    bad_lines = 0
    with open(paths_file) as f:
        for line in f:
            try:
                paths.append(json.loads(line))
            except ValueError:
                bad_lines += 1

    # Every hop with its id, tier, path root id, and its parent.
    where = {}          # id -> list of (path index, hop)
    path_ids = []       # path index -> set of ids in it
    unknown = 0
    for pi, p in enumerate(paths):
        ids = set()
        stack = [p["root"]]
        while stack:
            h = stack.pop()
            i = hop_id(h)
            if i is None:
                unknown += 1
            else:
                ids.add(i)
                where.setdefault(i, []).append((pi, h))
            stack.extend(h.get("children", []))
        path_ids.append(ids)

    def server(h):
        s = h.get("server", {})
        return s.get("comm") if s.get("seen") else None

    tier_rx = [re.compile(t) for t in tiers]

    def chain_ok(h, x, depth):
        if not tier_rx[depth].match(server(h) or "") or hop_id(h) != x:
            return False
        if depth + 1 == len(tiers):
            return True
        return any(chain_ok(c, x, depth + 1) for c in h.get("children", []))

    truth = [l.strip() for l in open(truth_file) if l.strip()]
    correct = mis = orphan = uncaptured = 0
    for x in truth:
        hops = where.get(x, [])
        mixed = any(path_ids[pi] != {x} for pi, _ in hops)
        ok = any(chain_ok(paths[pi]["root"], x, 0) and path_ids[pi] == {x}
                 for pi, _ in hops)
        if ok and not mixed:
            correct += 1
        elif mixed:
            mis += 1
        else:
            orphan += 1
            # A hop with an end this observer watches but never reported: the kernel
            # side missed a message (not a linking error); counted apart.
            # (A client-only and a server-only hop of the same request would be a
            # failed join: that stays the linker's fault.)
            one_sided = {(h["client"]["seen"], h["server"]["seen"]) for _, h in hops
                         if not (h["client"]["seen"] and h["server"]["seen"])}
            if not hops or (one_sided and not {(True, False), (False, True)} <= one_sided):
                uncaptured += 1
        if not (ok and not mixed) and os.environ.get("LINK_SCORE_LIST"):
            print("%s %s: %s" % ("mis-stitched" if mixed else "orphaned", x,
                  [(pi, server(h), hop_id(h)) for pi, h in hops]), file=sys.stderr)
    n = len(truth) or 1
    pc, pm, po = 100.0 * correct / n, 100.0 * mis / n, 100.0 * orphan / n
    nc = (len(truth) - uncaptured) or 1
    pcc = 100.0 * correct / nc
    print("requests %d correct %d (%.2f%%) orphaned %d (%.2f%%) mis-stitched %d (%.3f%%)"
          " | not fully captured %d, correct among the rest %.2f%%"
          " | paths %d hops_without_id %d bad_lines %d"
          % (len(truth), correct, pc, orphan, po, mis, pm, uncaptured, pcc, len(paths),
             unknown, bad_lines))
    rc = 0
    # The linker is judged on what the observer captured; the rest is shown above.
    if "--min-correct" in bounds and pcc < bounds["--min-correct"]:
        rc = 1
    if "--max-mis" in bounds and pm > bounds["--max-mis"]:
        rc = 1
    if not truth:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
