#!/usr/bin/env python3
"""Joins path segments printed by several observers (docs/paths.md, "Segments").

usage: link_join.py A.jsonl B.jsonl ... > joined.jsonl

Each observer prints what it saw: a hop whose server end it did not watch is a leaf
with "server": {"seen": false}; a tree whose root's client end it did not watch is a
segment ("segment": true).  Both carry the same "join" key (connection tuple + TCP
byte position, or UDP ports + datagram hash), computed without any clock.  A segment
whose root key equals such a leaf's key (in another observer's output) is that leaf's
continuation: the leaf takes the segment root's server side, server time, children
and flags.  What the aggregator does where segments meet, in 40 lines.
Prints the joined paths, and on stderr how many segments were joined.
"""
import json
import sys


def hops(h):
    yield h
    for c in h.get("children", []):
        yield from hops(c)


def main(files):
    paths = []  # (observer index, path)
    for i, name in enumerate(files):
        with open(name) as f:
            paths += [(i, json.loads(l)) for l in f if l.strip()]
    leaves = {}  # join key -> [(observer, hop)] with the server end unseen
    for obs, p in paths:
        for h in hops(p["root"]):
            if not h["server"]["seen"]:
                leaves.setdefault(h["join"], []).append((obs, h))
    joined = set()
    for k, (obs, p) in enumerate(paths):
        root = p["root"]
        if root["client"]["seen"]:
            continue
        cands = [h for o, h in leaves.get(root["join"], []) if o != obs]
        if not cands:
            continue
        leaf = cands[0]
        leaf["server"] = root["server"]
        leaf["server_ns"] = root["server_ns"]
        leaf["children"] = root["children"]
        leaf["children_ns"] = root["children_ns"]
        leaf["flags"] = sorted(set(leaf["flags"]) | set(root["flags"]))
        if len(cands) > 1:
            leaf["flags"] = sorted(set(leaf["flags"]) | {"ambiguous"})
        if leaf["outcome"] in ("unknown", "incomplete"):
            leaf["outcome"], leaf["status"] = root["outcome"], root["status"]
        joined.add(k)
    out = sys.stdout
    for k, (obs, p) in enumerate(paths):
        if k not in joined:
            out.write(json.dumps(p, separators=(",", ":")) + "\n")
    print("segments joined: %d of %d paths" % (len(joined), len(paths)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
