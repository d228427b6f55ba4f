"""Planning the config file: keep the admin's settings, write on change."""

from __future__ import annotations

import os

import pytest

from vds_bootstrap import host_config
from vdsm import config
from vdsm.common.errors import InvalidConfiguration


def test_plan_for_new_file(tmp_path) -> None:
    path = str(tmp_path / "vdsm.conf")
    plan = host_config.plan(path, config.rooted(str(tmp_path)))
    assert plan.current == {} and not plan.up_to_date
    assert plan.config.run_dir == str(tmp_path / "run/vdsm")
    result = host_config.write_config(plan)
    assert result.status == "OK" and result.changed
    assert host_config.plan(path, config.rooted(str(tmp_path))).up_to_date


def test_values_compared_after_coercion(tmp_path) -> None:
    path = str(tmp_path / "vdsm.conf")
    with open(path, "w") as f:
        f.write("[addresses]\nmanagement_port = 054321\n"
                "[vars]\nssl = yes\n")
    desired = {("addresses", "management_port"): 54321, ("vars", "ssl"): True}
    plan = host_config.plan(path, desired)
    assert plan.up_to_date
    mtime = os.stat(path).st_mtime_ns
    assert not host_config.write_config(plan).changed
    assert os.stat(path).st_mtime_ns == mtime


def test_invalid_files_refused(tmp_path) -> None:
    path = tmp_path / "vdsm.conf"
    path.write_text("[addresses]\nmanagement_port = many\n")
    with pytest.raises(InvalidConfiguration):
        host_config.plan(str(path), {})
    path.write_text("not an ini file\n")
    with pytest.raises(InvalidConfiguration):
        host_config.plan(str(path), {})
