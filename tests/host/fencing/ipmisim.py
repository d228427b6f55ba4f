"""A simulated BMC for tests: OpenIPMI's ipmi_sim on a loopback UDP port.

Power is kept by a chassis control script in a file (1 on, 0 off); every
change the BMC is asked for is appended to a history file, so a test sees
a reboot as "0" then "1".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

from vdsm.common import commands

USER = "admin"
CIPHER = "3"   # ipmi_sim does not answer ipmitool's cipher suite query

_CHASSIS = """#!/bin/sh
# ipmi_sim chassis control: "get power" / "set power 0|1"
op=$1; shift
if [ "$op" = get ]; then
    for item in "$@"; do
        [ "$item" = power ] && echo "power:$(cat {state})"
    done
else
    while [ $# -gt 1 ]; do
        if [ "$1" = power ]; then echo "$2" > {state}; echo "$2" >> {history}; fi
        shift 2
    done
fi
"""

_LAN_CONF = """name "vdsmfence"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{chassis}"
  user 2 true "{user}" "{password}" admin 10 none md2 md5 straight
"""

_EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
"""


def unavailable() -> str | None:
    """Why the simulator cannot run here, or None."""
    for tool in ("ipmi_sim", "ipmitool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt packages openipmi, ipmitool)"
    if not os.path.exists("/usr/sbin/fence_ipmilan"):
        return "fence_ipmilan is not installed (apt package fence-agents)"
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IpmiSim:
    def __init__(self, password: str) -> None:
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="vdsm-ipmisim-")
        self.port = free_udp_port()
        self.state = os.path.join(self.dir, "power")
        self.history = os.path.join(self.dir, "history")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> IpmiSim:
        chassis = os.path.join(self.dir, "chassis.sh")
        with open(chassis, "w") as f:
            f.write(_CHASSIS.replace("{state}", self.state)
                    .replace("{history}", self.history))
        os.chmod(chassis, 0o755)
        self.set_power("1")
        conf = os.path.join(self.dir, "lan.conf")
        with open(conf, "w") as f:
            f.write(_LAN_CONF.format(port=self.port, chassis=chassis,
                                     user=USER, password=self.password))
        emu = os.path.join(self.dir, "sim.emu")
        with open(emu, "w") as f:
            f.write(_EMU)
        out = open(os.path.join(self.dir, "ipmi_sim.out"), "ab")
        self.proc = subprocess.Popen(
            ["ipmi_sim", "-n", "-c", conf, "-f", emu,
             "-s", os.path.join(self.dir, "state")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while self.power_status() is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ipmi_sim did not answer")
            time.sleep(0.1)
        return self

    def set_power(self, value: str) -> None:
        with open(self.state, "w") as f:
            f.write(value + "\n")

    def history_lines(self) -> list[str]:
        try:
            with open(self.history) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def power_status(self) -> str | None:
        """"on"/"off" as ipmitool reads it from the simulated BMC."""
        result = commands.run(
            ["ipmitool", "-I", "lanplus", "-C", CIPHER, "-H", "127.0.0.1",
             "-p", str(self.port), "-U", USER, "-E",
             "chassis", "power", "status"],
            env=dict(os.environ, IPMI_PASSWORD=self.password), timeout=10,
            check=False)
        words = result.out.split()
        return words[-1] if result.rc == 0 and words else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
