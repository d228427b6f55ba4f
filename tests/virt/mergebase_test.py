"""A thin block base grown before a live merge commits into it
(vdsm/virt/mergebase.py): the size arithmetic, the chain's formats from
real libvirt XML, and the wait for the extender. The real extension path
runs in tests/virt/thinprov_test.py (a guest's merge into a growing LV).
"""

from __future__ import annotations

import threading

import pytest

from vdsm.virt import mergebase
from vdsm.virt import thinprov as tp
from vdsm.virt.errors import MergeFailed

MIB = 1 << 20

LIVE_XML = """<domain><devices>
<disk type='block' device='disk'>
  <driver name='qemu' type='qcow2' cache='none'/>
  <source dev='/rhev/sd/img/top' index='3'/>
  <backingStore type='block' index='2'>
    <format type='qcow2'/>
    <source dev='/rhev/sd/img/mid'/>
    <backingStore type='block' index='1'>
      <format type='raw'/>
      <source dev='/rhev/sd/img/base'/>
      <backingStore/>
    </backingStore>
  </backingStore>
  <target dev='vda' bus='virtio'/>
</disk>
<disk type='file' device='cdrom'><target dev='hdc'/></disk>
</devices></domain>"""


def test_chain_formats_leaf_first():
    assert mergebase.chain_formats(LIVE_XML, "vda") == ["qcow2", "qcow2", "raw"]
    assert mergebase.chain_formats(LIVE_XML, "hdc") == []
    assert mergebase.chain_formats(LIVE_XML, "vdz") == []


def test_needed_size_is_base_plus_layers_plus_margin_up_to_the_largest():
    assert mergebase.needed_size(base_size=64 * MIB, top_sizes=[128 * MIB],
                                 capacity=1024 * MIB, margin=0) == 192 * MIB
    assert mergebase.needed_size(base_size=64 * MIB, top_sizes=[128 * MIB, 64 * MIB],
                                 capacity=1024 * MIB, margin=128 * MIB) == 384 * MIB
    # never past the qcow2's largest useful LV, never below what it has
    assert mergebase.needed_size(base_size=64 * MIB, top_sizes=[2048 * MIB],
                                 capacity=1024 * MIB, margin=0) == \
        tp.max_size(1024 * MIB)
    assert mergebase.needed_size(base_size=2048 * MIB, top_sizes=[64 * MIB],
                                 capacity=1024 * MIB, margin=0) == 2048 * MIB


def _qcow2(path, capacity: int, size: int) -> None:
    header = bytearray(size)
    header[:4] = b"QFI\xfb"
    header[24:32] = capacity.to_bytes(8, "big")
    path.write_bytes(bytes(header))


def test_plan_for_a_qcow2_base_on_block(tmp_path):
    for name, size in (("top", 96 * MIB // 16), ("mid", 32 * MIB // 16),
                       ("base", 64 * MIB // 16)):
        _qcow2(tmp_path / name, 1024 * MIB, size)
    paths = [str(tmp_path / n) for n in ("top", "mid", "base")]
    chain = ["top", "mid", "base"]
    xml = LIVE_XML.replace("type='raw'", "type='qcow2'")
    dev = {"name": "vda", "diskType": "block", "domainID": "sd",
           "poolID": "sp", "imageID": "img"}
    request = mergebase.plan(dev, xml, paths, chain, "base", "top",
                             active=True, chunk=8 * MIB)
    assert request == tp.ExtendRequest("sd", "sp", "img", "base",
                                       (96 + 32 + 64) * MIB // 16 + 8 * MIB)
    internal = mergebase.plan(dev, xml, paths, chain, "base", "mid",
                              active=False, chunk=8 * MIB)
    assert internal.size == (32 + 64) * MIB // 16
    # a raw base (preallocated: full already), a file domain: nothing
    assert mergebase.plan(dev, LIVE_XML, paths, chain, "base", "top",
                          active=True, chunk=8 * MIB) is None
    assert mergebase.plan(dict(dev, diskType="file"), xml, paths, chain, "base",
                          "top", active=True, chunk=8 * MIB) is None
    (tmp_path / "mid").unlink()
    with pytest.raises(MergeFailed):
        mergebase.plan(dev, xml, paths, chain, "base", "top", active=True,
                       chunk=0)


class Extender:
    def __init__(self, error: BaseException | None = None, *,
                 answer: bool = True) -> None:
        self.error = error
        self.answer = answer
        self.asked: list[tp.ExtendRequest] = []

    def extend(self, request: tp.ExtendRequest, callback: tp.ExtendCallback) -> None:
        self.asked.append(request)
        if self.answer:
            threading.Thread(target=callback, args=(self.error,)).start()


def test_extend_waits_for_the_extender_and_reports_its_failures():
    request = tp.ExtendRequest("sd", "sp", "img", "base", 256 * MIB)
    ok = Extender()
    mergebase.extend(ok, request)
    assert ok.asked == [request]
    with pytest.raises(MergeFailed, match="SPM unreachable"):
        mergebase.extend(Extender(RuntimeError("SPM unreachable")), request)
    with pytest.raises(MergeFailed, match="not extended within"):
        mergebase.extend(Extender(answer=False), request, timeout=0.1)
    with pytest.raises(MergeFailed, match="no volume extender"):
        mergebase.extend(None, request)
