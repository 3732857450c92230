"""Monthly and quarterly metrics in DuckDB over the exported change columns
and board decisions (see scripts/bench_reports_sql.sh): facts.csv decisions.csv."""
import sys
import time

import duckdb

con = duckdb.connect()
started = time.perf_counter()
con.execute(f"CREATE TABLE facts AS SELECT * FROM read_csv_auto('{sys.argv[1]}')")
con.execute(f"CREATE TABLE decisions AS SELECT * FROM read_csv_auto('{sys.argv[2]}')")
loaded = time.perf_counter()
SQL = """
SELECT g.unit, date_trunc(g.unit, actual_end) AS period, count(*) AS implemented,
  avg((outcome IN ('SUCCESSFUL','SUCCESSFUL_WITH_ISSUES'))::int), avg((outcome='ROLLED_BACK')::int),
  avg((outcome IN ('FAILED','ROLLED_BACK'))::int), avg((change_type='emergency')::int),
  avg((outcome='SUCCESSFUL_WITH_ISSUES' OR has_incident)::int),
  quantile_cont(epoch(actual_end - submitted_at)/3600, 0.5), quantile_cont(epoch(actual_end - submitted_at)/3600, 0.9),
  avg(epoch(actual_end - submitted_at)/3600), avg(epoch(actual_end - actual_start)/3600),
  quantile_cont(epoch(actual_end - actual_start)/3600, 0.5), avg(epoch(scheduled_end - scheduled_start)/3600),
  quantile_cont(epoch(approved_at - submitted_at)/3600, 0.5), avg(epoch(approved_at - submitted_at)/3600),
  avg(CASE WHEN change_type='emergency' AND approval_due_at IS NOT NULL THEN (approved_at <= approval_due_at)::int END)
FROM facts CROSS JOIN (VALUES ('month'), ('quarter')) g(unit)
WHERE actual_end >= TIMESTAMPTZ '2024-11-01 00:00:00+00' AND actual_end < TIMESTAMPTZ '2026-11-01 00:00:00+00'
GROUP BY ALL ORDER BY 1, 2
"""
CAB = """
SELECT g.unit, date_trunc(g.unit, decided_at) AS period,
  sum((outcome='APPROVED')::int)::double / nullif(sum((outcome IN ('APPROVED','REJECTED'))::int), 0)
FROM decisions CROSS JOIN (VALUES ('month'), ('quarter')) g(unit)
WHERE decided_at >= TIMESTAMPTZ '2024-11-01 00:00:00+00' AND decided_at < TIMESTAMPTZ '2026-11-01 00:00:00+00'
GROUP BY ALL
"""
for run in range(3):
    t = time.perf_counter()
    rows = con.execute(SQL).fetchall()
    con.execute(CAB).fetchall()
    print(f"duckdb metrics run {run}: {(time.perf_counter() - t) * 1000:.0f} ms ({len(rows)} periods)")
print(f"duckdb CSV load: {(loaded - started) * 1000:.0f} ms")
