#!/bin/sh
# ipmitool for fence_ipmilan (its ipmitool_path): the password comes from
# IPMI_PASSWORD (-E), never from argv, where every user could read it in
# /proc/PID/cmdline. fence_ipmilan, given no password, passes "-P ''":
# dropped here, since a later -P would override -E.
for arg do
    shift
    if [ "$skip" = 1 ]; then skip=; continue; fi
    if [ "$arg" = -P ]; then skip=1; continue; fi
    set -- "$@" "$arg"
done
exec ipmitool -E "$@"
