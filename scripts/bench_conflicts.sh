#!/usr/bin/env bash
# Conflict detection over 100,000 scheduled changes on PostgreSQL: fills a
# scratch database with changes spread over two years on 500 systems, then
# times the exact query scheduleChange runs (service::calendar::bookings)
# with EXPLAIN ANALYZE. Usage: scripts/bench_conflicts.sh [admin-url]
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
DB=gh_bench_conflicts
SERVER="${ADMIN%/*}"
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -qc "CREATE DATABASE $DB"
GATEHOUSE_DATABASE_URL="$SERVER/$DB" cargo run -q -- migrate up >/dev/null
psql "$SERVER/$DB" -q <<'SQL'
INSERT INTO users (id, name, email, roles, active, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'bench', 'bench@example.com', '["requester"]', true, now());
INSERT INTO systems (id, name, created_at)
SELECT ('00000000-0000-0000-0001-' || lpad(to_hex(n), 12, '0'))::uuid, 'system-' || n, now() FROM generate_series(1, 500) n;
INSERT INTO changes (id, number, title, description, business_justification, urgency, priority, change_type, status,
  likelihood, impact, inherent_score, risk_level, requester_id, services, downtime_required, implementation_steps,
  canary_stages, links, created_at, updated_at, version, scheduled_start, scheduled_end)
SELECT ('00000000-0000-0000-0002-' || lpad(to_hex(n), 12, '0'))::uuid, 'CR-2026-' || lpad(n::text, 6, '0'), 'bench', 'd', 'b',
  'LOW', 'LOW', 'normal', CASE WHEN n % 10 = 0 THEN 'IMPLEMENTING' ELSE 'SCHEDULED' END, 2, 2, 4, 'LOW',
  '00000000-0000-0000-0000-000000000001', '[]', false, '[]', '[]', '[]', now(), now(), 1,
  timestamptz '2026-01-01' + (n * interval '10 minutes'), timestamptz '2026-01-01' + (n * interval '10 minutes') + interval '2 hours'
FROM generate_series(1, 100000) n;
INSERT INTO change_systems (change_id, system_id)
SELECT ('00000000-0000-0000-0002-' || lpad(to_hex(n), 12, '0'))::uuid, ('00000000-0000-0000-0001-' || lpad(to_hex(1 + n % 500), 12, '0'))::uuid
FROM generate_series(1, 100000) n;
ANALYZE;
SQL
echo "== bookings overlapping a 2-hour slot on 3 systems (the scheduleChange check)"
psql "$SERVER/$DB" -c "EXPLAIN (ANALYZE, BUFFERS, SUMMARY) SELECT c.id, c.number, c.scheduled_start, c.scheduled_end, cs.system_id, s.name
  FROM changes c JOIN change_systems cs ON c.id = cs.change_id JOIN systems s ON cs.system_id = s.id
  WHERE c.status IN ('SCHEDULED', 'IMPLEMENTING') AND c.scheduled_start < '2027-06-01 04:00+00' AND c.scheduled_end > '2027-06-01 02:00+00'
    AND cs.system_id IN ('00000000-0000-0000-0001-000000000001', '00000000-0000-0000-0001-000000000002', '00000000-0000-0000-0001-000000000003')" | tail -4
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
