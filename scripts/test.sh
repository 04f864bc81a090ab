#!/usr/bin/env bash
# Lint, type-check and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check mediaserver tests benchmarks
echo "== mypy --strict"
mypy --strict mediaserver
echo "== pytest"
set +e
pytest "$@"
rc=$?
set -e
# 5 = no tests collected: that is a failure for us too, but say so plainly.
[[ $rc -eq 5 ]] && echo "pytest collected no tests" >&2
exit $rc
