"""The fake SAN host shared by the device tests: a sysfs tree
(fakesysfs.py) and udev properties with the values a RHEL 8 host logged
into a LIO (targetcli) iSCSI target over two portals, and attached to a
NetApp FC LUN, shows. Written by hand in the kernel's formats (this
machine has no SCSI disks); the real listing is proven on loop devices in
blockdev_test.
"""

from __future__ import annotations

import pytest

from tests.storage.devices.fakesysfs import FakeSysfs
from vdsm.storage.devices.udev import UdevDisk

GiB = 1024**3
MPATH = "36001405d2b6c5d2a2b14a6e9c5e8f1a7"
IQN = "iqn.2003-01.org.linux-iscsi.storage.x8664:sn.4c1ea0d9e0b5"
LIO = {"vendor": "LIO-ORG", "model": "lun1", "rev": "4.0",
       "wwid": f"naa.{MPATH[1:]}"}
FC_WWID = "naa.600a098038304437415d4b6a59684a52"


@pytest.fixture
def host(tmp_path) -> tuple[str, list[UdevDisk]]:
    fake = FakeSysfs(tmp_path)
    for n, (sd, dev, state) in enumerate([("sdb", "8:16", "running"),
                                          ("sdc", "8:32", "transport-offline")]):
        fake.disk(sd, size=20 * GiB, dev=dev, discard_max=4194304,
                  ancestry=f"platform/host{3 + n}/session{1 + n}/target{3 + n}:0:0/"
                           f"{3 + n}:0:0:1",
                  scsi={**LIO, "state": state})
        fake.iscsi_session(f"session{1 + n}", target=IQN, tpgt=1, iface="default",
                           address=f"192.0.2.{10 + n}", port=3260)
    fake.multipath("dm-2", MPATH, ["sdb", "sdc"], size=20 * GiB, dev="253:2")
    fake.disk("sdd", size=50 * GiB, dev="8:48", logical=512, physical=4096,
              ancestry="pci0000:00/0000:00:03.0/host5/rport-5:0-0/target5:0:0/5:0:0:7",
              scsi={"vendor": "NETAPP", "model": "LUN C-Mode", "rev": "9800",
                    "wwid": FC_WWID, "state": "running"})
    fake.disk("sde", size=10 * GiB, dev="8:64", ancestry="pci0000:00/host0/0:0:0:0",
              scsi={"vendor": "ATA", "model": "QEMU HARDDISK", "state": "running"})
    fake.partition("sde", "sde1")
    fake.device_mapper("dm-5", "LVM-abc", "vg-lv", [], size=GiB, dev="253:5")
    fake.disk("sr0", size=GiB, dev="11:0")
    udev = [UdevDisk("sdb", "/dev/sdb", {"ID_SERIAL": MPATH}),
            UdevDisk("sdc", "/dev/sdc", {"ID_SERIAL": MPATH}),
            UdevDisk("dm-2", "/dev/dm-2", {"DM_NAME": MPATH}),
            UdevDisk("sdd", "/dev/sdd", {}),  # no udevd: identity from sysfs
            UdevDisk("sde", "/dev/sde", {"ID_SERIAL": "QEMU_HARDDISK_QM00001",
                                         "ID_SERIAL_SHORT": "QM00001"}),
            UdevDisk("dm-5", "/dev/dm-5", {}), UdevDisk("sr0", "/dev/sr0", {}),
            UdevDisk("sdz", "/dev/sdz", {})]  # vanished before sysfs was read
    return str(tmp_path), udev
