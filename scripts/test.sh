#!/usr/bin/env bash
# The test suite: lint, the layer contracts (import-linter, setup.cfg), then pytest (Ray tests start a small local
# Ray of their own).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check pe_actors launcher datasets tests benchmarks scripts
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -q "$@"
