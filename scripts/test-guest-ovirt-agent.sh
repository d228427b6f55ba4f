#!/bin/sh
# The test guest's stand-in for the oVirt guest agent (busybox sh).
#
#     ovirt-agent DEVICE
#
# Speaks the classic line protocol (one JSON object a line, named by
# "__name__") on the virtio-serial port DEVICE: a heartbeat every 2 s,
# the guest's facts on "refresh", and for the host's desktop commands the
# new user and session state sent back plus a console line
# "VDSM-TEST-GUEST ovirt-agent <command> ..." that tests wait for.
# Built into the test guest by scripts/build-test-guest.py; the password
# of a login is never printed.

dev=$1
user=None
exec 3<>"$dev"

send() { printf '%s\n' "$1" >&3; }
mark() { echo "VDSM-TEST-GUEST ovirt-agent $*"; }
field() { echo "$2" | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
number() { echo "$2" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }

heartbeat() {
    send "{\"__name__\": \"heartbeat\", \"free-ram\": \"$(($(meminfo MemFree) / 1024))\", \"apiVersion\": 3, \"memory-stat\": {\"mem_total\": $(meminfo MemTotal), \"mem_unused\": $(meminfo MemFree), \"mem_buffers\": $(meminfo Buffers), \"mem_cached\": $(meminfo Cached)}}"
}

user_state() {
    send "{\"__name__\": \"active-user\", \"name\": \"$user\"}"
}

facts() {
    heartbeat
    send "{\"__name__\": \"host-name\", \"name\": \"$(hostname)\"}"
    send "{\"__name__\": \"os-version\", \"version\": \"$(uname -r)\"}"
    send '{"__name__": "applications", "applications": ["vdsm-test-ovirt-agent-1.0"]}'
    user_state
}

(while true; do heartbeat; sleep 2; done) &
mark "started on $dev"
while true; do
    # EOF while the host side is not connected: try again later.
    if ! read -r line <&3; then sleep 1; continue; fi
    name=$(field __name__ "$line")
    case "$name" in
    refresh) facts; mark "refresh" ;;
    api-version) mark "api-version $(number apiVersion "$line")" ;;
    login)
        user=$(field username "$line")
        user_state
        send '{"__name__": "session-logon"}'
        mark "login $user" ;;
    log-off)
        user=None
        user_state
        send '{"__name__": "session-logoff"}'
        mark "log-off" ;;
    lock-screen)
        send '{"__name__": "session-lock"}'
        mark "lock-screen" ;;
    echo) send "$line"; mark "echo" ;;
    *) mark "command $name" ;;
    esac
done
