"""vdsClient VM verbs in the classic syntax, against a real agent."""

from __future__ import annotations

import os

import pytest

import vdsm_cli.vm_cli as vm_cli
from vdsm import config as vdsm_config
from vdsm_cli import vdsclient
from vdsm_cli.errors import UsageError

from .harness import vm_params, wait_status


def test_drive_and_custom_keys():
    struct = vm_cli.create_struct({
        "drive": ["pool:p,domain:d,image:i,volume:v,if:ide",
                  "path:/x.img,format:cow"],
        "custom": "a:1,b:2", "memSize": "64"})
    assert struct["drives"] == [
        {"poolID": "p", "domainID": "d", "imageID": "i", "volumeID": "v",
         "iface": "ide"},
        {"path": "/x.img", "format": "cow"}]
    assert struct["custom"] == {"a": "1", "b": "2"}
    with pytest.raises(UsageError):
        vm_cli.drive_spec("path=/x")


def _run(conf, port, *argv, capsys):
    rc = vdsclient.main(["-s", "--config", conf, f"127.0.0.1:{port}", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_create_list_stats_destroy(virt_agent, guest, capsys, tmp_path):
    conf = os.path.join(virt_agent.root.root, "cli.conf")
    vdsm_config.write(conf, {("vars", "trust_store_path"):
                             virt_agent.config.pki_dir})
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 65536)
    params = vm_params(guest)
    vm_id = params["vmId"]
    argv = ["create", "/dev/null", f"vmId={vm_id}", "memSize=96",
            f"vmName={params['vmName']}", f"kernel={guest['kernel']}",
            f"initrd={guest['initrd']}", f"kernelArgs={guest['cmdline']}",
            f"drive=path:{disk},format:raw,if:virtio,readonly:true"]
    try:
        rc, out, err = _run(conf, virt_agent.port, *argv, capsys=capsys)
        assert rc == 0, err
        assert "vmId" in out and vm_id in out
        wait_status(virt_agent.proxy, vm_id, "Up")
        rc, out, err = _run(conf, virt_agent.port, "list", "table",
                            capsys=capsys)
        assert rc == 0, err
        line = next(line for line in out.splitlines() if vm_id in line)
        assert params["vmName"] in line and line.endswith("Up")
        rc, out, err = _run(conf, virt_agent.port, "getVmStats", vm_id,
                            capsys=capsys)
        assert rc == 0 and "status" in out and "= Up" in out, out + err
        listed = virt_agent.proxy.list(True, [vm_id])["vmList"][0]
        assert listed["drives"][0]["path"] == str(disk)
    finally:
        rc, out, err = _run(conf, virt_agent.port, "destroy", vm_id,
                            capsys=capsys)
    assert rc == 0, err
    rc, out, err = _run(conf, virt_agent.port, "getVmStats", vm_id,
                        capsys=capsys)
    assert rc == 1 and "code 1" in err

