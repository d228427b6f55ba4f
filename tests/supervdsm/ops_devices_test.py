"""The device ops through a real supervdsmd: errors keep their names on the
wire, hostile arguments are refused before any command, and the CHAP
password stays out of supervdsm's log (the discovery itself fails on this
kernel: no iscsid)."""

from __future__ import annotations

import os
import shutil

import pytest

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.storage.devices import iscsi_discovery as discovery
from vdsm.storage.devices.errors import BlockDeviceActionError


@pytest.mark.skipif(shutil.which("multipathd") is not None,
                    reason="multipathd is installed: its answer is host-specific")
def test_multipath_maps_without_multipathd_is_a_block_device_error(client):
    with pytest.raises(BlockDeviceActionError) as e:
        client.call("multipath_maps")
    assert "multipathd" in e.value.message


@pytest.mark.skipif(shutil.which("iscsiadm") is None, reason="needs open-iscsi")
def test_chap_discovery_through_supervdsmd(client, supervdsmd):
    port = 3260 + os.getpid() % 20000 + 10000  # a portal no other test uses
    try:
        with pytest.raises(Exception) as e:
            client.call("iscsi_discover_chap", portal="127.0.0.1", port=port,
                        user="joe", password="wire-s3cret-77")
        assert e.value.name == "iSCSIDiscoveryError"
        with pytest.raises(InvalidParameter):
            client.call("iscsi_discover_chap", portal="--op=delete", user="joe",
                        password="wire-s3cret-77")
        assert "wire-s3cret-77" not in supervdsmd.log()
        # the failed discovery left no record (so none with the password)
        assert not os.path.exists(discovery.record_path("127.0.0.1", port))
    finally:
        argv = discovery.discoverydb_argv("127.0.0.1", port, "default", "-o", "delete")
        commands.run(argv, timeout=30, check=False)
