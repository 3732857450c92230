#!/usr/bin/env bash
# Load test on loopback against PostgreSQL, with wrk (installed from
# Debian's packages when missing). Not part of CI: the figures depend on
# the machine and on what else runs; docs/benchmarks-load.md records them.
#
#   (a) list:      the 50-item `changes` page with nested fields
#                  (requester, systems, approvals with approvers, evidence,
#                  incidents, reviews), 32 connections; repeated, so after
#                  the first request it is answered by the response cache
#   (b) list-uncached: (a) against a server started with the response
#                  cache off (GATEHOUSE_RESPONSE_CACHE_BYTES=0)
#   (c) list-during-writes: (a) while one more connection writes without
#                  pause (the mix of (d)), so the cache keeps being emptied
#   (d) mutations: a mix of createChange and recordEvidence, 32 connections
#   (e) mutations-uncached: (d) again, the response cache off
#
# It creates its own database (gh_load_<random>) on the PostgreSQL server of
# LOAD_POSTGRES_URL, seeds it with `gatehouse demo-data`, starts a release
# build of Gatehouse on a free loopback port (18800-18899), runs wrk, prints
# rps, p50/p99 and the server's RSS, and drops the database afterwards.
#
#   LOAD_POSTGRES_URL  admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   LOAD_DURATION      seconds per scenario (default 30)
#   LOAD_CONNECTIONS   concurrent connections (default 32)
#   LOAD_CHANGES       demo changes to seed (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${LOAD_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${LOAD_DURATION:-30}"
CONNECTIONS="${LOAD_CONNECTIONS:-32}"
CHANGES="${LOAD_CHANGES:-2000}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian's packages"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi

cargo build --quiet --release --bin gatehouse
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
GATEHOUSE="$TARGET_DIR/release/gatehouse"

DB_NAME="gh_load_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB_URL="${ADMIN_URL%/*}/$DB_NAME"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql "$ADMIN_URL" -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null

PORT="$(python3 scripts/free_port.py)"
URL="http://127.0.0.1:$PORT/graphql"
export GATEHOUSE_DATABASE_URL="$DB_URL"
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
# One client token sends everything: the per-token budget is off.
export GATEHOUSE_RATE_LIMIT_PER_MINUTE=0
export RUST_LOG="${RUST_LOG:-warn}"
unset GATEHOUSE_BOOTSTRAP_TOKEN GATEHOUSE_CONFIG

echo "seeding $CHANGES demo changes into $DB_NAME"
"$GATEHOUSE" migrate up >/dev/null
"$GATEHOUSE" demo-data --changes "$CHANGES" --months 12 --seed 7 >/dev/null
"$GATEHOUSE" users add --name Load --email load@example.com --roles requester,change_manager >/dev/null
TOKEN="$("$GATEHOUSE" tokens issue --user load@example.com --name load 2>/dev/null | tail -n 1)"
# Statistics and visibility map as autovacuum leaves a database in service
# (freshly bulk-loaded tables have neither: seq scans and heap visits).
psql "$DB_URL" -qc "VACUUM ANALYZE" >/dev/null

# start_server [VAR=value ...]: the release build with extra settings.
start_server() {
  env "$@" "$GATEHOUSE" serve >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the server did not start" >&2
  return 1
}
stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
start_server

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

post() {
  curl -fsS "$URL" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$1"
}

LIST_QUERY='query Page { changes(first: 50) { totalCount edges { node { id number title status type risk { level inherentScore } requester { name email } systems { name } approvals(allRounds: true) { decision decidedAt approver { email } } evidence { gate status recordedAt } incidents { priority title } reviews { kind summary } } } } }'
LIST_BODY="$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$LIST_QUERY")"

# Sanity: the page answers without errors and has nested rows to load.
post "$LIST_BODY" >"$WORK/page.json"
python3 - "$WORK/page.json" <<'EOF'
import json, sys
page = json.load(open(sys.argv[1]))
assert "errors" not in page, page["errors"]
nodes = [e["node"] for e in page["data"]["changes"]["edges"]]
assert len(nodes) == 50, len(nodes)
counts = {k: sum(len(n[k]) for n in nodes) for k in ("approvals", "evidence", "incidents", "reviews")}
print("page of 50:", counts)
EOF

# Changes the mutation mix records evidence on (the load account files
# them, so it may record evidence as their requester).
CREATE='mutation New($title: String!) { createChange(input: {title: $title, description: "load test", businessJustification: "measure", type: "normal", likelihood: 2, impact: 2}) { id } }'
IDS=()
for i in $(seq 1 20); do
  body="$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1], "variables": {"title": "seed %s" % sys.argv[2]}}))' "$CREATE" "$i")"
  IDS+=("$(post "$body" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["createChange"]["id"])')")
done

cat >"$WORK/list.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = [[$LIST_BODY]]
EOF

# The mix: half createChange, half recordEvidence on the changes above.
python3 - "$WORK/mix.lua" "$TOKEN" "$CREATE" "${IDS[@]}" <<'EOF'
import json, sys
path, token, create, *ids = sys.argv[1:]
evidence = ('mutation Ev($id: ID!) { recordEvidence(changeId: $id, input: '
            '{gate: "unit_tests", status: PASSED, summary: "green"}) { id } }')
bodies = []
for i in range(40):
    if i % 2 == 0:
        bodies.append({"query": create, "variables": {"title": f"load {i}"}})
    else:
        bodies.append({"query": evidence, "variables": {"id": ids[i % len(ids)]}})
lua = [
    'wrk.method = "POST"',
    'wrk.headers["Content-Type"] = "application/json"',
    f'wrk.headers["Authorization"] = "Bearer {token}"',
    "local bodies = {" + ",".join("[==[" + json.dumps(b) + "]==]" for b in bodies) + "}",
    "local i = 0",
    "request = function() i = i % #bodies + 1; return wrk.format(nil, nil, nil, bodies[i]) end",
]
open(path, "w").write("\n".join(lua) + "\n")
EOF

# Counts answers that are not 200 or carry GraphQL errors, per thread.
cat >"$WORK/check.lua" <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("answers with errors or non-200: %d\n", total))
end
EOF

run() {
  local name="$1" script="$2"
  cat "$script" "$WORK/check.lua" >"$WORK/$name.run.lua"
  echo
  echo "== $name: wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "   server RSS before: $(($(rss_kib) / 1024)) MiB"
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/$name.run.lua" "$URL" | tee "$WORK/$name.out"
  echo "   server RSS after: $(($(rss_kib) / 1024)) MiB, peak so far: $(($(hwm_kib) / 1024)) MiB"
}

# A short warm-up so connection pools and caches are filled.
warm_up() { wrk -t2 -c"$CONNECTIONS" -d5s -s "$WORK/list.lua" "$URL" >/dev/null; }
warm_up
run list "$WORK/list.lua"

# The same page with the response cache off, before any writes grow the
# table (the mutation runs add thousands of changes).
stop_server
start_server GATEHOUSE_RESPONSE_CACHE_BYTES=0
warm_up
run list-uncached "$WORK/list.lua"
stop_server
start_server
warm_up

cache_counts() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" | grep '^gatehouse_graphql_response_cache_total' || true
}
# One writer beside the readers; its own figures are not the point.
cache_counts >"$WORK/cache.before"
wrk -t1 -c1 -d"$((DURATION + 2))s" --timeout 10s -s "$WORK/mix.lua" "$URL" >"$WORK/writer.out" &
WRITER_PID=$!
run list-during-writes "$WORK/list.lua"
wait "$WRITER_PID"
echo "   the writer beside it: $(grep -E 'Requests/sec' "$WORK/writer.out" | tr -s ' ')"
cache_counts >"$WORK/cache.after"
python3 - "$WORK/cache.before" "$WORK/cache.after" <<'EOF'
import re, sys
def counts(path):
    return {m[1]: float(m[2]) for m in re.finditer(r'result="(\w+)"\} (\S+)', open(path).read())}
before, after = counts(sys.argv[1]), counts(sys.argv[2])
print("   response cache during this run (readers and writer):",
      ", ".join(f"{k} {int(after[k] - before.get(k, 0))}" for k in sorted(after)))
EOF
run mutations "$WORK/mix.lua"
# The mix again with the cache off: what the cache costs writers.
stop_server
start_server GATEHOUSE_RESPONSE_CACHE_BYTES=0
run mutations-uncached "$WORK/mix.lua"

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); PostgreSQL $(psql "$ADMIN_URL" -Atc 'SHOW server_version')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -n "panicked" "$WORK/server.log"; then
  echo "the server panicked" >&2
  exit 1
fi
