#!/bin/sh
# One command for a fresh Debian 12 machine (as root): install what vdsm
# needs, bootstrap a self-contained single host under $VDSM_ROOT (default
# /srv/vdsm: local storage, self-signed PKI, libvirt and sanlock running),
# and start supervdsmd and vdsmd in the background. Re-running restarts the daemons; nothing else changes.
set -eu
cd "$(dirname "$0")/.."
ROOT=${VDSM_ROOT:-/srv/vdsm}
CONF="$ROOT/etc/vdsm/vdsm.conf"
PY=.venv/bin/python

./scripts/install-deps.sh
$PY -m vds_bootstrap.bootstrap --root "$ROOT" --start-libvirt --start-sanlock

RUN="$ROOT/run/vdsm"
stop_pid() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
}
stop_pid "$RUN/vdsmd.pid"
stop_pid "$RUN/supervdsmd.pid"

mkdir -p "$ROOT/var/log/vdsm"
nohup $PY -m vdsm.supervdsm.server --config "$CONF" \
    >>"$ROOT/var/log/vdsm/supervdsmd.out" 2>&1 &
nohup $PY -m vdsm.daemon --config "$CONF" \
    >>"$ROOT/var/log/vdsm/vdsmd.out" 2>&1 &

i=0
until .venv/bin/vdsClient --config "$CONF" -s 0 ping >/dev/null 2>&1; do
    i=$((i+1))
    if [ $i -ge 60 ]; then
        echo "vdsmd did not answer; see $ROOT/var/log/vdsm/vdsm.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo
echo "vdsm is running under $ROOT. Try:"
echo "  .venv/bin/vdsClient --config $CONF -s 0 getVdsCaps"
echo "  .venv/bin/vdsClient --config $CONF -s 0 getVdsStats"
echo "Stop it: kill \$(cat $RUN/vdsmd.pid) \$(cat $RUN/supervdsmd.pid)"
echo "Stop sanlock too: SANLOCK_RUN_DIR=$ROOT/run/sanlock sanlock client shutdown"
