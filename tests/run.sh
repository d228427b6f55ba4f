#!/bin/sh
# Set up a fresh Debian 12 machine (as root) and run the whole test suite.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
exec .venv/bin/python -m pytest -ra -p no:cacheprovider "$@"
