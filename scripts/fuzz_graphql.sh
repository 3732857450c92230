#!/usr/bin/env bash
# Fuzzes the live GraphQL schema with schemathesis (GraphQL mode): starts a
# Gatehouse on a fresh embedded SQLite file on a free loopback port
# (18800-18899), seeds a little demo data, creates an admin account and
# token with the CLI, and lets schemathesis generate queries and mutations
# from the introspected schema for a bounded budget.
#
# Fails (exit 1) on any 5xx answer or INTERNAL error (the check in
# scripts/fuzz_checks.py, and the server's log: request status, ERROR
# level) or any panic in the server log. VALIDATION, FORBIDDEN, NOT_FOUND
# ... answers to generated input are the expected outcome, not failures. The budget keeps CI bounded:
#   FUZZ_MAX_EXAMPLES  test cases per operation   (default 12)
#   FUZZ_MAX_TIME      seconds for the whole run  (default 180)
#   FUZZ_SEED          hypothesis seed            (default 8; change to explore)
# Usage: scripts/fuzz_graphql.sh        (builds the debug binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-12}"
MAX_TIME="${FUZZ_MAX_TIME:-180}"
SEED="${FUZZ_SEED:-8}"
VENV="${GATEHOUSE_FUZZ_VENV:-target/fuzzenv}"

# schemathesis, pinned in scripts/requirements-fuzz.txt, in its own venv
# (its dependencies must not meet the test readers' in target/pyenv).
mkdir -p "$(dirname "$VENV")"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF \
  "$(sed -n 's/^schemathesis==//p' scripts/requirements-fuzz.txt)"; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-fuzz.txt
fi
VENV="$(cd "$VENV" && pwd)" # schemathesis runs from a scratch directory

cargo build --quiet --bin gatehouse
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
GATEHOUSE="$TARGET_DIR/debug/gatehouse"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 scripts/free_port.py)"

export GATEHOUSE_DATABASE_URL="sqlite://$WORK/fuzz.db?mode=rwc"
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
# The fuzzer sends far more than a person would; the per-token budget
# would answer 429s instead of exercising the resolvers.
export GATEHOUSE_RATE_LIMIT_PER_MINUTE=0
# JSON logs, so the checks below can read status and level plainly.
export GATEHOUSE_LOG_FORMAT=json
unset GATEHOUSE_BOOTSTRAP_TOKEN GATEHOUSE_CONFIG

"$GATEHOUSE" migrate up >/dev/null
"$GATEHOUSE" demo-data --changes 40 --months 3 --seed 8 >/dev/null
# admin excludes the policy's approval roles (change_manager approves in
# tiered-cab), so the fuzzer is an admin who also files changes.
"$GATEHOUSE" users add --name Fuzzer --email fuzzer@example.com --roles admin,requester >/dev/null
TOKEN="$("$GATEHOUSE" tokens issue --user fuzzer@example.com --name fuzz 2>/dev/null | tail -n 1)"

"$GATEHOUSE" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

echo "fuzzing http://127.0.0.1:$PORT/graphql: $MAX_EXAMPLES examples per operation, at most ${MAX_TIME}s, seed $SEED"
status=0
# Mutations that would lock the fuzzer's own token out are left out, so
# the rest of the run still reaches the resolvers instead of 401s; so is
# createWebhook, which would have the server send deliveries to whatever
# public address the fuzzer invents (load and fault tests reach loopback
# only). Its input checks are tests/e2e/webhooks.rs's.
# Run from the scratch directory: schemathesis keeps its example database
# in ./.schemathesis, which must not land in the repository.
(cd "$WORK" && PYTHONPATH="$OLDPWD/scripts" SCHEMATHESIS_HOOKS=fuzz_checks \
  timeout --kill-after=10 "$((MAX_TIME + 60))" \
  "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/graphql" \
  --header "Authorization: Bearer $TOKEN" \
  --checks no_5xx_or_internal \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "$SEED" \
  --workers 2 \
  --request-timeout 20 \
  --exclude-name-regex '^Mutation\.(revokeToken|deactivateUser|setUserRoles|createWebhook)$' \
  --report-dir "$WORK/report") ||
  status=$?

if grep -n "panicked" "$WORK/server.log"; then
  echo "the server panicked (log above)" >&2
  status=1
fi
# Any 5xx the server answered is logged on its request span.
if grep -nE '"status":5[0-9][0-9]' "$WORK/server.log" | head -20 | grep .; then
  echo "the server answered 5xx (log above)" >&2
  status=1
fi
# An INTERNAL error answers 200 with `extensions.code` INTERNAL; its cause
# is logged at ERROR level. Hostile input must get VALIDATION instead.
if grep -n '"level":"ERROR"' "$WORK/server.log" | head -20 | grep .; then
  echo "the server logged errors (INTERNAL answers; log above)" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail)" >&2
  grep -v '"level":"INFO"' "$WORK/server.log" | tail -n 50 >&2
  exit 1
fi
echo "fuzzing found no 5xx and no panic"
