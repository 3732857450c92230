#!/usr/bin/env bash
# Installs the independent readers the tests use to read Gatehouse's output
# back (pyarrow for Parquet, openpyxl for XLSX, icalendar and
# recurring_ical_events for the calendar feed; CSV uses Python's standard
# csv module) into a project-local virtual environment, once. Prints the
# interpreter to use. Idempotent and quick when already done; safe to run
# from several tests at once.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GATEHOUSE_PY_VENV:-target/pyenv}"
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if ! "$VENV/bin/python" -c 'import pyarrow, openpyxl, icalendar, recurring_ical_events' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt >&2
fi
echo "$PWD/$VENV/bin/python"
