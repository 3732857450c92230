#!/usr/bin/env python3
"""Redraws an audit sample offline, as Gatehouse draws it (docs/audit.md,
"Sampling"), from a population file and the seed.

    python3 scripts/audit_sample.py population.json --size 25 --seed FY2026 \
        --oversample EMERGENCY,ROLLED_BACK

population.json: the `auditPopulation` answer's members in population
order, each with `uuid`, `version`, `type` and `strata`, plus `digest`.
Prints the drawn uuids in draw order, one JSON list, after checking the
digest. Standard library only.
"""

import argparse
import hashlib
import json
import math
import sys

STRATA = ["EMERGENCY", "OUTSIDE_SLOT", "ROLLED_BACK", "GATES_LATE"]


def digest(members):
    lines = "".join(f"{m['uuid']},{m['version']}\n" for m in members)
    return hashlib.sha256(lines.encode()).hexdigest()


def draw_key(seed, uuid):
    return hashlib.sha256(f"{seed}:{uuid}".encode()).hexdigest()


def draw(members, size, seed, oversampled):
    keys = [draw_key(seed, m["uuid"]) for m in members]
    by_key = sorted(range(len(members)), key=lambda i: keys[i])
    size = min(size, len(members))
    drawn = [False] * len(members)
    draws = []
    chosen = [s for s in STRATA if s in oversampled]
    if chosen:
        quota = math.ceil(size / (2 * len(chosen)))
        for stratum in chosen:
            candidates = [i for i in by_key if not drawn[i] and stratum in members[i]["strata"]]
            for i in candidates[: min(quota, size - len(draws))]:
                drawn[i] = True
                draws.append(i)
    left = size - len(draws)
    remaining = {}
    for i in by_key:
        if not drawn[i]:
            remaining.setdefault(members[i]["type"], []).append(i)
    total = sum(len(v) for v in remaining.values())
    if total and left:
        types = sorted(remaining)
        shares = {t: len(remaining[t]) * left // total for t in types}
        rest = {t: len(remaining[t]) * left % total for t in types}
        spare = left - sum(shares.values())
        # Largest remainder first; equal remainders keep the types' order.
        for t in sorted(types, key=lambda t: -rest[t])[:spare]:
            shares[t] += 1
        for t in types:
            draws.extend(remaining[t][: shares[t]])
    return [members[i]["uuid"] for i in draws]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("population")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--oversample", default="")
    args = parser.parse_args()
    with open(args.population, encoding="utf-8") as f:
        population = json.load(f)
    members = population["members"]
    if digest(members) != population["digest"]:
        sys.exit("the population does not match its digest")
    oversampled = [s for s in args.oversample.split(",") if s]
    print(json.dumps(draw(members, args.size, args.seed, oversampled)))


if __name__ == "__main__":
    main()
