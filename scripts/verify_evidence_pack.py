#!/usr/bin/env python3
"""Verify a Gatehouse evidence pack offline, with the Python 3 standard library only.

Usage:
    python3 scripts/verify_evidence_pack.py PACK [--manifest-sha256 HEX]

PACK is the directory written by `gatehouse audit export --out DIR`, or the tar
archive served by `GET /audit/export` (it holds one such directory).

Checks, in order:
  1. manifest.json names a known format;
  2. every file it lists is present with the listed size and SHA-256, no
     other file is present, and each file holds the listed number of rows;
  3. the audit events are one unbroken run of the hash chain: sequence numbers
     consecutive from auditEvents.firstSeq to lastSeq, the first event's
     prevHash equal to auditEvents.prevHash, every event's hash recomputed from
     its fields exactly as Gatehouse computes it (api/src/domain/audit_chain.rs),
     and every prevHash equal to the hash of the event before it;
  4. when the pack ends at the chain head recorded in the manifest, the last
     hash equals that head;
  5. the population (population.jsonl, every change touching the period in
     population order) has the manifest's population.count rows and its
     population.digest: SHA-256 over one line "{uuid},{version}\n" per row.

With --sample-size and --seed it then redraws the audit sample from the
pack's population as Gatehouse draws it (scripts/audit_sample.py,
docs/audit.md "Sampling") and prints the drawn changes, to compare with the
sample the auditor was given.

The hash of one event is SHA-256 over the UTF-8 bytes of the JSON object of
its fields action, actorId, actorLabel, entityId, entityType, occurredAt,
payload, prevHash and seq, with keys sorted, no whitespace and non-ASCII
characters written as they are (json.dumps(..., sort_keys=True,
separators=(",", ":"), ensure_ascii=False)).

A pack whose manifest was rewritten together with the files passes checks 1-3
only if every hash after the edit was recomputed too; to rule that out, record
the manifest's SHA-256 (printed below) or its chainHead when you receive the
pack, pass it with --manifest-sha256 later, and check the live chain with
`gatehouse audit verify --anchor-seq SEQ --anchor-hash HASH`.

Exit status: 0 verified, 2 verification failed, 1 the pack could not be read.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import audit_sample  # noqa: E402  (beside this script)

FORMAT = "gatehouse-evidence-pack"
SUPPORTED_VERSIONS = {1}
MANIFEST = "manifest.json"
GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "action",
    "actorId",
    "actorLabel",
    "entityId",
    "entityType",
    "occurredAt",
    "payload",
    "prevHash",
    "seq",
)


def jsonl_lines(data):
    """Lines of a JSONL file. Only \\n ends a line: str.splitlines would also
    split at U+2028 and other characters JSON leaves unescaped in strings."""
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class Unreadable(Exception):
    """The pack cannot be read at all (exit status 1)."""


def canonical_encoding(event):
    """The exact bytes Gatehouse hashes for one event."""
    fields = {key: event[key] for key in HASHED_FIELDS}
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(event):
    return hashlib.sha256(canonical_encoding(event)).hexdigest()


def open_pack(path):
    """Returns {relative file name: bytes} of the pack's files."""
    files = {}
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if not os.path.isfile(full) or os.path.islink(full):
                raise Unreadable(f"{name}: not a regular file")
            with open(full, "rb") as handle:
                files[name] = handle.read()
        return files
    if not tarfile.is_tarfile(path):
        raise Unreadable(f"{path} is neither a directory nor a tar archive")
    with tarfile.open(path) as archive:
        # Read members in memory; nothing is extracted to disk.
        for member in archive.getmembers():
            if member.isdir():
                continue
            if not member.isfile():
                raise Unreadable(f"{member.name}: not a regular file")
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts or len(parts) > 2:
                raise Unreadable(f"{member.name}: unexpected path in the archive")
            handle = archive.extractfile(member)
            files[parts[-1]] = handle.read() if handle else b""
    return files


def check_files(manifest, files, problems):
    listed = {entry["name"]: entry for entry in manifest.get("files", [])}
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(f"{name}: present but not listed in the manifest")
    for name, entry in listed.items():
        data = files.get(name)
        if data is None:
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if len(data) != entry["bytes"]:
            problems.append(f"{name}: {len(data)} bytes, the manifest says {entry['bytes']}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            problems.append(f"{name}: SHA-256 {digest} does not match the manifest's {entry['sha256']}")
        if entry["format"] == "jsonl":
            rows = len(jsonl_lines(data))
        else:
            text = data.decode("utf-8", errors="replace")
            rows = max(len(list(csv.reader(io.StringIO(text, newline="")))) - 1, 0)
        if rows != entry["rows"]:
            problems.append(f"{name}: {rows} rows, the manifest says {entry['rows']}")


def check_chain(manifest, files):
    """Returns (first broken seq, reason) or None when the run is intact."""
    segment = manifest["auditEvents"]
    name = next(
        (f["name"] for f in manifest["files"] if f["dataset"] == "audit_events" and f["format"] == "jsonl"),
        None,
    )
    if name is None or name not in files:
        raise Unreadable("the pack has no audit_events JSONL file")
    lines = jsonl_lines(files[name])
    if segment["firstSeq"] is None:
        if lines:
            return (None, "the manifest says the period has no events but the file has some")
        return None
    expected_seq = segment["firstSeq"]
    prev_hash = segment["prevHash"]
    if expected_seq == 1 and prev_hash != GENESIS_HASH:
        return (1, "the first event of the chain must follow 64 zeros")
    last_hash = None
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            return (expected_seq, f"line {number} is not JSON: {error}")
        missing = [key for key in HASHED_FIELDS + ("hash",) if key not in event]
        if missing:
            return (expected_seq, f"line {number} lacks {', '.join(missing)}")
        if event["seq"] != expected_seq:
            return (
                expected_seq,
                f"expected event {expected_seq} next but found event {event['seq']} "
                "(an event was deleted or reordered)",
            )
        if event["prevHash"] != prev_hash:
            return (
                expected_seq,
                f"prevHash {event['prevHash']} does not match the hash of the previous event {prev_hash}",
            )
        recomputed = event_hash(event)
        if recomputed != event["hash"]:
            return (
                expected_seq,
                f"stored hash {event['hash']} does not match the recomputed {recomputed} (the event was edited)",
            )
        prev_hash = last_hash = recomputed
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != segment["lastSeq"]:
        return (last_seq + 1, f"the run ends at event {last_seq} but the manifest says {segment['lastSeq']}")
    if len(lines) != segment["count"]:
        return (None, f"{len(lines)} events, the manifest says {segment['count']}")
    head = manifest.get("chainHead")
    if head is None or head["seq"] < last_seq:
        return (last_seq, "the manifest's chain head is older than the pack's last event")
    if head["seq"] == last_seq and head["hash"] != last_hash:
        return (last_seq, f"the last event hashes to {last_hash} but the chain head recorded {head['hash']}")
    return None


def check_population(manifest, files, problems):
    """The population's rows, after checking them against the manifest's
    count and digest; None for a pack made before populations were
    exported."""
    proof = manifest.get("population")
    if proof is None:
        return None
    members = [json.loads(line) for line in jsonl_lines(files.get("population.jsonl", b""))]
    if len(members) != proof["count"]:
        problems.append(f"population.jsonl: {len(members)} changes, the manifest says {proof['count']}")
    digest = audit_sample.digest(members)
    if digest != proof["digest"]:
        problems.append(f"population.jsonl: digest {digest} is not the manifest's {proof['digest']}")
    return members


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pack", help="pack directory or .tar archive")
    parser.add_argument(
        "--manifest-sha256",
        help="SHA-256 of manifest.json recorded when the pack was received",
    )
    parser.add_argument("--sample-size", type=int, help="redraw a sample of this many changes")
    parser.add_argument("--seed", help="the sample's seed")
    parser.add_argument(
        "--oversample",
        default="",
        help="comma-separated strata the sample over-represents (EMERGENCY,OUTSIDE_SLOT,ROLLED_BACK,GATES_LATE)",
    )
    args = parser.parse_args(argv)
    if (args.sample_size is None) != (args.seed is None):
        parser.error("--sample-size and --seed go together")
    try:
        files = open_pack(args.pack)
        if MANIFEST not in files:
            raise Unreadable("no manifest.json in the pack")
        manifest_bytes = files[MANIFEST]
        manifest = json.loads(manifest_bytes)
        if manifest.get("format") != FORMAT or manifest.get("formatVersion") not in SUPPORTED_VERSIONS:
            raise Unreadable("manifest.json is not a supported Gatehouse evidence pack manifest")
        problems = []
        manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
        if args.manifest_sha256 and args.manifest_sha256.lower() != manifest_digest:
            problems.append(f"manifest.json: SHA-256 {manifest_digest} is not the recorded {args.manifest_sha256}")
        check_files(manifest, files, problems)
        broken = check_chain(manifest, files)
        population = check_population(manifest, files, problems)
    except (Unreadable, OSError, KeyError, TypeError, ValueError, tarfile.TarError) as error:
        print(f"ERROR: cannot read the pack: {error}", file=sys.stderr)
        return 1

    segment = manifest["auditEvents"]
    print(f"manifest.json SHA-256 {manifest_digest}")
    print(f"period {manifest['period']['from']} .. {manifest['period']['to']} (end exclusive)")
    for problem in problems:
        print(f"FILE MISMATCH {problem}")
    if broken is not None:
        seq, reason = broken
        where = f"event {seq}" if seq is not None else "the audit events"
        print(f"BROKEN at {where}: {reason}")
    if problems or broken is not None:
        return 2
    if population is not None:
        print(f"population: {len(population)} changes, digest {manifest['population']['digest']}")
        if args.sample_size is not None:
            oversampled = [s for s in args.oversample.split(",") if s]
            drawn = audit_sample.draw(population, args.sample_size, args.seed, oversampled)
            numbers = {m["uuid"]: m["number"] for m in population}
            print("sample: " + json.dumps([{"uuid": u, "number": numbers[u]} for u in drawn]))
    elif args.sample_size is not None:
        print("ERROR: this pack holds no population to draw from", file=sys.stderr)
        return 1
    if segment["firstSeq"] is None:
        print("OK: no audit events in the period; all file hashes match")
    else:
        head = manifest["chainHead"]
        print(
            f"OK: {segment['count']} events, seq {segment['firstSeq']}..{segment['lastSeq']} "
            f"recompute from prevHash {segment['prevHash']}; chain head at export seq {head['seq']} "
            f"hash {head['hash']}; all file hashes match"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
