#!/usr/bin/env bash
# The same metrics as the polars engine, by SQL in PostgreSQL and in DuckDB,
# with peak memory (/usr/bin/time -v). Usage:
#   scripts/bench_reports_sql.sh postgres://postgres@127.0.0.1:5432/gh_bench_reports_...
# (the URL printed by `cargo bench -p api --bench reports_metrics -- --postgres URL --keep`).
# DuckDB runs in its own venv (target/bench-duckdb-venv), not in the test
# requirements. Drop the database afterwards: psql ... -c 'DROP DATABASE ...'.
set -euo pipefail
url=${1:?database URL}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
echo "== PostgreSQL SQL (3 runs)"
for run in 1 2 3; do
  /usr/bin/time -v psql -X -q "$url" -f "$here/bench_reports_sql.sql" 2> >(grep -E "Maximum resident|Elapsed" >&2) | grep -E "^Time" | tail -3
done
csv=$(mktemp -d)/facts.csv
psql -X -q "$url" -c "\\copy (SELECT outcome, decided_at FROM board_decisions) TO '$(dirname "$csv")/decisions.csv' CSV HEADER"
psql -X -q "$url" -c "\\copy (SELECT c.id, c.change_type, c.outcome, c.submitted_at, c.approved_at, c.scheduled_start, c.scheduled_end, c.actual_start, c.actual_end, c.approval_due_at, EXISTS (SELECT 1 FROM incidents i WHERE i.change_id = c.id) AS has_incident FROM changes c WHERE c.outcome IS NOT NULL) TO '$csv' CSV HEADER"
venv=$target/bench-duckdb-venv
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q duckdb; }
echo "== DuckDB SQL over the exported columns ($(du -h "$csv" | cut -f1) CSV)"
/usr/bin/time -v "$venv/bin/python" "$here/bench_reports_duckdb.py" "$csv" "$(dirname "$csv")/decisions.csv" 2> >(grep -E "Maximum resident|Elapsed" >&2)
rm -rf "$(dirname "$csv")"
