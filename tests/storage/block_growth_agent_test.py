"""extendStorageDomain and resizePV on a domain made by createStorageDomain,
through a real agent that is the pool's SPM.

A LUN added: a PV of the domain's VG with the next PV mapping entry in
the domain metadata, and the domain reports the bigger VG; a LUN grown,
then resizePV: the PV and its mapping entry grow. Bad input answers the
classic codes and changes nothing: a LUN that is a PV of another
domain's VG (601), a LUN that vanished (606).
"""

from __future__ import annotations

import os

from tests.storage import blockagent
from tests.storage.blockagent import (
    DATA,
    ISCSI,
    LUN_MB,
    MiB,
    block_pool,
    domain_vg,
    root_lvm,
)
from tests.storage.blockdevs_test import guid_of, luns
from tests.storage.helpers import code, loop_device, ok
from tests.storage.lvmhelpers import need_lvm
from vdsm.common import commands
from vdsm.storage.domains.block import layout, tags

pytestmark = need_lvm
lv_dir, host = blockagent.lv_dir, blockagent.host     # the shared fixtures
PHYS_DEV_INIT, INACCESSIBLE = 601, 606


def mapping(lvm, sd):
    lvm.invalidate(sd)
    md = tags.parse_domain_tags(lvm.vg(sd).tags)   # the checksum holds
    return {k: layout.decode_pv_info(v) for k, v in md.items() if k.startswith("PV")}


def disktotal(p, sd):
    return int(ok(p.getStorageDomainStats(sd))["stats"]["disktotal"])


def backing_file(device):
    with open(f"/sys/block/{os.path.basename(device)}/loop/backing_file") as f:
        return f.read().strip()


def test_extend_domain_and_resize_pv_end_to_end(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir) as names, luns(2048) as (lun,):
        sd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        lvm = root_lvm(sd, [*nodes, lun])
        total = disktotal(p, sd)
        before = mapping(lvm, sd)
        assert sorted(before) == ["PV0", "PV1"]

        ok(p.extendStorageDomain(sd, sp, [guid_of(lun)], False))
        lvm.invalidate(sd)
        assert sorted(lvm.vg(sd).pv_names) == sorted([*nodes, lun])
        after = mapping(lvm, sd)
        assert {k: after[k] for k in before} == before
        assert after["PV2"]["guid"] == guid_of(lun)
        assert int(after["PV2"]["mapoffset"]) == \
            int(before["PV1"]["mapoffset"]) + int(before["PV1"]["pecount"])
        grown = disktotal(p, sd)
        extent = lvm.vg(sd).extent_size
        assert grown - total == int(after["PV2"]["pecount"]) * extent > 1024 * MiB
        info = ok(p.getStorageDomainInfo(sd))["info"]
        assert info["state"] == "OK" and info["vguuid"] == names["vg_uuid"]

        # the LUN grows by 2 GiB, then resizePV
        os.truncate(backing_file(lun), 4096 * MiB)
        commands.run(["losetup", "-c", lun], timeout=30)
        size = int(ok(p.resizePV(sd, sp, guid_of(lun)))["size"])
        lvm.invalidate(sd)
        pv = {v.name: v for v in lvm.vg_pvs(sd)}[lun]
        assert size == pv.size == pv.pe_count * extent
        assert pv.pe_count == int(after["PV2"]["pecount"]) + 16   # 2 GiB more
        resized = mapping(lvm, sd)
        assert resized == {**after, "PV2": {**after["PV2"],
                                            "pecount": str(pv.pe_count)}}
        assert disktotal(p, sd) - grown == 2048 * MiB     # 16 more extents


def test_bad_luns_answer_classic_codes_and_change_nothing(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir) as names, domain_vg(p, lv_dir) as (
            other, other_vg, other_nodes):
        ok(p.createStorageDomain(ISCSI, other, "other", other_vg, DATA, 5))
        sd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        lvm = root_lvm(sd, nodes)
        before = mapping(lvm, sd)
        answer = p.extendStorageDomain(sd, sp, [guid_of(other_nodes[0])], False)
        assert code(answer) == PHYS_DEV_INIT, answer
        with loop_device(LUN_MB, "/var/tmp") as gone:
            pass                                    # detached: no longer a LUN
        assert code(p.extendStorageDomain(sd, sp, [guid_of(gone)], False)) == \
            INACCESSIBLE
        assert code(p.resizePV(sd, sp, guid_of(gone))) == INACCESSIBLE
        assert mapping(lvm, sd) == before
        assert sorted(lvm.vg(sd).pv_names) == sorted(nodes)
        other_lvm = root_lvm(other, other_nodes)
        assert sorted(other_lvm.vg(other).pv_names) == sorted(other_nodes)
        ok(p.validateStorageDomain(other))
        ok(p.formatStorageDomain(other, False))
