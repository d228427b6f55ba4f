from __future__ import annotations

import shutil

import pytest

import vdsm
from vdsm.host import software

from .recorded import data


def test_parse_recorded_qemu_output():
    assert software.parse_qemu_version(data("qemu_version.txt")) == "7.2.22"
    machines = software.parse_machine_help(data("qemu_machine_help.txt"))
    assert "pc" in machines and "q35" in machines
    assert "pc-i440fx-7.2" in machines
    assert "none" not in machines
    assert "Supported" not in machines


def test_parse_recorded_dpkg_query():
    found = software.parse_dpkg_query(data("dpkg_query.txt"))
    assert found["libvirt0"] == "9.0.0-4+deb12u2"
    assert "qemu-kvm" not in found  # listed as not-installed


def test_split_debian_version():
    assert software.split_debian_version("1:7.2+dfsg-7+deb12u18+b3") == {
        "version": "7.2+dfsg", "release": "7+deb12u18+b3"}
    assert software.split_debian_version("2.03.16-2") == {
        "version": "2.03.16", "release": "2"}
    assert software.split_debian_version("1.0") == {
        "version": "1.0", "release": ""}


def test_package_versions_of_this_machine():
    packages = software.package_versions()
    assert packages["vdsm"]["version"] == vdsm.__version__
    assert set(packages["kernel"]) == {"version", "release"}
    if shutil.which(software.qemu_binary()):
        assert packages["qemu-kvm"]["version"].count(".") >= 1
    else:
        print(f"{software.qemu_binary()} not installed: no qemu-kvm entry")


def test_libvirt_version_matches_bindings():
    libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing")
    number = libvirt.getVersion()
    major, minor, micro = (int(p) for p in software.libvirt_version().split("."))
    assert major * 1000000 + minor * 1000 + micro == number


def test_emulated_machines_cached():
    if not shutil.which(software.qemu_binary()):
        pytest.skip(f"{software.qemu_binary()} not installed")
    first = software.emulated_machines()
    assert "pc" in first
    assert software.emulated_machines() is first


def test_version_info():
    info = software.version_info()
    assert info["software_version"] == vdsm.__version__
    assert "4.2" in info["clusterLevels"]
    assert info["supportedENGINEs"]
