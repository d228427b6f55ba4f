#!/bin/sh
# Set up a fresh Debian 12 machine (as root) and run the whole test suite.
#
# The suite runs on two workers (pytest-xdist), a test module per worker
# at a time (--dist loadfile: a module's shared guest, agent or pool stays
# in one process). The test guest is built (or found in its cache) once
# first, so the two workers never build it at the same time.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== test guest"
.venv/bin/python scripts/build-test-guest.py >/dev/null \
    || echo "test guest not built: the tests that need it will skip, saying why"
echo "== pytest"
exec .venv/bin/python -m pytest -ra -p no:cacheprovider -n 2 --dist loadfile "$@"
