#!/usr/bin/env python3
"""Paired comparison of two map_benchmark.py runs on the same draws.

    scripts/paired_draws.py A/results.jsonl B/results.jsonl [--column geomaml] [--column-b rf]

Matches rows by (scene, draw): the draws are seeded, so both runs adapted on the same
points and were scored on the same test pixels. Prints per scene the mean of each
run, and over all matched draws the mean difference B - A in points with its 95 %
Student-t interval, and how many draws B wins, ties (within 0.05 points) and loses.
"""
import argparse
import json
import math
import sys
from collections import defaultdict

# Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("a")
p.add_argument("b")
p.add_argument("--column", default="geomaml", help="column of A (and of B unless --column-b)")
p.add_argument("--column-b", help="column of B")
args = p.parse_args()


def rows(path):
    with open(path) as f:
        return {(r["scene"], r["draw"]): r for r in map(json.loads, f) if r.get("scene")}


a, b = rows(args.a), rows(args.b)
ca, cb = args.column, args.column_b or args.column
keys = sorted(k for k in a.keys() & b.keys() if ca in a[k] and cb in b[k])
if not keys:
    sys.exit("no (scene, draw) is in both files with those columns")
per_scene = defaultdict(list)
diffs = []
for k in keys:
    x, y = 100 * a[k][ca], 100 * b[k][cb]
    per_scene[k[0]].append((x, y))
    diffs.append(y - x)
print(f"| scene | draws | A ({ca}) | B ({cb}) | B - A |")
print("|---|---:|---:|---:|---:|")
for s, v in per_scene.items():
    ma, mb = sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v)
    print(f"| {s} | {len(v)} | {ma:.1f} % | {mb:.1f} % | {mb - ma:+.1f} |")
n = len(diffs)
mean = sum(diffs) / n
sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else float("nan")
t = T975[min(n - 1, len(T975)) - 1] if n > 1 else float("nan")
half = t * sd / math.sqrt(n)
wins = sum(d > 0.05 for d in diffs)
losses = sum(d < -0.05 for d in diffs)
print(f"\nB - A over {n} draws: {mean:+.1f} points, 95 % interval [{mean - half:+.1f}, {mean + half:+.1f}]"
      f" ({wins} wins, {n - wins - losses} ties, {losses} losses)")
