"""The example hooks, installed into a hooks directory and run by the runner."""

from __future__ import annotations

import os
import shutil
from xml.dom import minidom

import pytest

import vdsm_hooks
from vdsm.common import hooks
from vdsm.common.errors import HookError

EXAMPLES = os.path.join(os.path.dirname(vdsm_hooks.__file__), "examples")
DOMXML = ("<domain type='qemu'><name>vm1</name>"
          "<memory unit='KiB'>131072</memory></domain>")


def install(hooks_dir, point, name):
    target = hooks_dir / point
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.join(EXAMPLES, point, name), target / name)


def all_examples():
    for point in sorted(os.listdir(EXAMPLES)):
        for name in sorted(os.listdir(os.path.join(EXAMPLES, point))):
            yield point, name


@pytest.mark.parametrize("point,name", list(all_examples()))
def test_examples_are_installable(point, name):
    path = os.path.join(EXAMPLES, point, name)
    assert point in hooks.POINTS
    assert os.access(path, os.X_OK), f"{path} lost its executable bit"
    with open(path) as f:
        assert f.readline().startswith("#!")


@pytest.fixture
def hugepages(tmp_path):
    install(tmp_path, "before_vm_start", "50_hugepages")
    return hooks.Hooks(str(tmp_path), timeout=30)


def backing(domxml):
    domain = minidom.parseString(domxml).documentElement
    return domain.getElementsByTagName("memoryBacking")


def test_hugepages_added(hugepages):
    out = hugepages.before_vm_start(DOMXML, custom={"hugepages": "true"})
    [mb] = backing(out)
    [hp] = mb.getElementsByTagName("hugepages")
    assert hp.getElementsByTagName("page") == []


def test_hugepages_with_size(hugepages):
    out = hugepages.before_vm_start(
        DOMXML, custom={"hugepages": "yes", "hugepages_size": "2048"})
    [page] = backing(out)[0].getElementsByTagName("page")
    assert (page.getAttribute("size"), page.getAttribute("unit")) == (
        "2048", "KiB")


def test_hugepages_keeps_existing_backing(hugepages):
    domxml = DOMXML.replace("</domain>",
                            "<memoryBacking><locked/></memoryBacking></domain>")
    out = hugepages.before_vm_start(domxml, custom={"hugepages": "true"})
    [mb] = backing(out)
    tags = [n.tagName for n in mb.childNodes]
    assert tags == ["locked", "hugepages"]


@pytest.mark.parametrize("custom", [{}, {"hugepages": "false"}])
def test_hugepages_untouched(hugepages, custom):
    assert hugepages.before_vm_start(DOMXML, custom=custom) == DOMXML


def test_hugepages_invalid_value_stops_start(hugepages):
    with pytest.raises(HookError, match="50_hugepages.*invalid value 'maybe'"):
        hugepages.before_vm_start(DOMXML, custom={"hugepages": "maybe"})


@pytest.fixture
def features(tmp_path):
    install(tmp_path, "after_get_caps", "50_additional_features")
    return hooks.Hooks(str(tmp_path), timeout=30)


def test_additional_features_appended(features, tmp_path):
    listing = tmp_path / "features"
    listing.write_text("# site features\nsite_backup\n\nGLUSTER_SNAPSHOT\n"
                       "site_backup\nfast_net  # 25G\n")
    caps = {"kvmEnabled": "true", "additionalFeatures": ["GLUSTER_SNAPSHOT"]}
    out = features.after_get_caps(
        caps, env={"VDSM_ADDITIONAL_FEATURES": str(listing)})
    assert out == {"kvmEnabled": "true", "additionalFeatures": [
        "GLUSTER_SNAPSHOT", "site_backup", "fast_net"]}


def test_additional_features_without_file(features, tmp_path):
    caps = {"kvmEnabled": "true"}
    out = features.after_get_caps(
        caps, env={"VDSM_ADDITIONAL_FEATURES": str(tmp_path / "missing")})
    assert out == caps
