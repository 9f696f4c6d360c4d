#!/usr/bin/env bash
# The test command (README): set up the test environment, run the static checks (ruff, ruff
# format, mypy --strict, the import-cycle check), then pytest on 2 workers.
# Arguments go to pytest, e.g. `bash tools/test.sh tests/servers/test_servers.py -x`.
# pytest's "no tests collected" (exit 5) counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/setup-test-env.sh

# the house stays as built: lint, format, types and the import layers, before the tests
.venv/bin/ruff check src tests benchmarks tools
.venv/bin/ruff format --check src tests benchmarks tools
.venv/bin/mypy
.venv/bin/python tools/check_imports.py

status=0
.venv/bin/python -m pytest -n 2 "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "tools/test.sh: pytest collected no tests; failing." >&2
    exit 1
fi
exit "$status"
