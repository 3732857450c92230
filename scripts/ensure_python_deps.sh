#!/usr/bin/env bash
# Installs the independent readers the export tests use to read Gatehouse's
# reports back (pyarrow for Parquet, openpyxl for XLSX; CSV uses Python's
# standard csv module) into a project-local virtual environment, once.
# Prints the interpreter to use. Idempotent and quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GATEHOUSE_PY_VENV:-target/pyenv}"
if ! "$VENV/bin/python" -c 'import pyarrow, openpyxl' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'pyarrow>=15' 'openpyxl>=3.1' >&2
fi
echo "$PWD/$VENV/bin/python"
