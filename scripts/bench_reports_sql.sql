-- The monthly and quarterly metrics of docs/design.md "Metrics" in plain SQL
-- (PostgreSQL), for comparison with the polars engine. Run by
-- scripts/bench_reports_sql.sh against a database kept by
-- `cargo bench -p api --bench reports_metrics -- --postgres URL --keep`.
\timing on
\set from '2024-11-01 00:00:00+00'
\set to '2026-11-01 00:00:00+00'
CREATE TEMP VIEW facts AS
SELECT c.id, c.change_type, c.outcome, c.actual_end,
       EXTRACT(EPOCH FROM c.actual_end - c.submitted_at) / 3600 AS lead_h,
       EXTRACT(EPOCH FROM c.actual_end - c.actual_start) / 3600 AS dur_h,
       EXTRACT(EPOCH FROM c.scheduled_end - c.scheduled_start) / 3600 AS planned_h,
       EXTRACT(EPOCH FROM c.approved_at - c.submitted_at) / 3600 AS approval_h,
       c.approval_due_at, c.approved_at,
       EXISTS (SELECT 1 FROM incidents i WHERE i.change_id = c.id) AS has_incident
FROM changes c
WHERE c.outcome IS NOT NULL AND c.actual_end >= :'from' AND c.actual_end < :'to';

\o /dev/null
SELECT g.unit, date_trunc(g.unit, f.actual_end AT TIME ZONE 'UTC') AS period,
       count(*) AS implemented,
       avg((f.outcome IN ('SUCCESSFUL', 'SUCCESSFUL_WITH_ISSUES'))::int) AS success_rate,
       avg((f.outcome = 'ROLLED_BACK')::int) AS rollback_rate,
       avg((f.outcome IN ('FAILED', 'ROLLED_BACK'))::int) AS failure_rate,
       avg((f.change_type = 'emergency')::int) AS emergency_share,
       avg((f.outcome = 'SUCCESSFUL_WITH_ISSUES' OR f.has_incident)::int) AS with_issues_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.lead_h) AS lead_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY f.lead_h) AS lead_p90,
       avg(f.lead_h) AS lead_mean,
       avg(f.dur_h) AS duration_mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.dur_h) AS duration_p50,
       avg(f.planned_h) AS planned_mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.planned_h) AS planned_p50,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.approval_h) AS approval_p50,
       avg(f.approval_h) AS approval_mean,
       avg(CASE WHEN f.change_type = 'emergency' AND f.approval_due_at IS NOT NULL
                THEN (f.approved_at IS NOT NULL AND f.approved_at <= f.approval_due_at)::int END)
         AS emergency_docs_on_time
FROM facts f CROSS JOIN (VALUES ('month'), ('quarter')) AS g(unit)
GROUP BY 1, 2 ORDER BY 1, 2;
-- CAB approval rate: the board's decisions by the time it took them.
SELECT g.unit, date_trunc(g.unit, d.decided_at AT TIME ZONE 'UTC') AS period,
       sum((d.outcome = 'APPROVED')::int)::float8
         / nullif(sum((d.outcome IN ('APPROVED', 'REJECTED'))::int), 0) AS cab_approval_rate
FROM board_decisions d CROSS JOIN (VALUES ('month'), ('quarter')) AS g(unit)
WHERE d.decided_at >= :'from' AND d.decided_at < :'to'
GROUP BY 1, 2;
SELECT g.unit, date_trunc(g.unit, f.actual_end AT TIME ZONE 'UTC'), f.change_type, f.outcome, count(*)
FROM facts f CROSS JOIN (VALUES ('month'), ('quarter')) AS g(unit)
GROUP BY GROUPING SETS ((1, 2, 3), (1, 2, 4));
SELECT g.unit, date_trunc(g.unit, f.actual_end AT TIME ZONE 'UTC'), s.name, count(*)
FROM facts f JOIN change_systems cs ON cs.change_id = f.id JOIN systems s ON s.id = cs.system_id
CROSS JOIN (VALUES ('month'), ('quarter')) AS g(unit)
GROUP BY 1, 2, 3;
\o
