from __future__ import annotations

import platform
import uuid

from vdsm.host import osinfo


def test_os_version_of_this_machine():
    release = osinfo.parse_key_values(open("/etc/os-release").read())
    info = osinfo.os_version()
    assert info["pretty_name"] == release["PRETTY_NAME"]
    assert set(info) == {"name", "version", "release", "pretty_name"}
    if release["ID"] == "debian":
        assert info["name"] == "Debian"
        assert info["version"] == open("/etc/debian_version").read().strip()


def test_os_version_rhel_like(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('NAME="CentOS Stream"\nID="centos"\nID_LIKE="rhel fedora"\n'
                    'VERSION_ID="9"\nPRETTY_NAME="CentOS Stream 9"\n')
    info = osinfo.os_version(os_release=str(path))
    assert info == {"name": "RHEL", "version": "9", "release": "",
                    "pretty_name": "CentOS Stream 9"}


def test_kernel_version_joins_back_to_uname():
    kernel = osinfo.kernel_version()
    joined = kernel["version"] + ("-" + kernel["release"]
                                  if kernel["release"] else "")
    assert joined == platform.release()
    assert osinfo.kernel_version("6.1.0-18-amd64") == {
        "version": "6.1.0", "release": "18-amd64"}


def test_kernel_args_match_proc():
    assert osinfo.kernel_args() == open("/proc/cmdline").read().strip()


def test_iscsi_initiator_name(tmp_path):
    assert osinfo.iscsi_initiator_name(str(tmp_path / "absent")) == ""
    path = tmp_path / "initiatorname.iscsi"
    path.write_text("## generated\nInitiatorName=iqn.1993-08.org.debian:01:ab\n")
    assert osinfo.iscsi_initiator_name(str(path)) == \
        "iqn.1993-08.org.debian:01:ab"


def test_selinux_absent_is_disabled(tmp_path):
    assert osinfo.selinux_mode(str(tmp_path / "enforce")) == "-1"


def test_host_uuid_sources_in_order(tmp_path):
    vdsm_id = tmp_path / "vdsm.id"
    dmi = tmp_path / "product_uuid"
    machine = tmp_path / "machine-id"
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    kwargs = dict(id_file=str(vdsm_id), dmi_uuid=str(dmi),
                  machine_id=str(machine))
    derived = osinfo.host_uuid(**kwargs)
    assert uuid.UUID(derived).version == 4
    assert derived.replace("-", "") != "3d1219c7c4c5404aaa1f6d2a48adfda4"
    assert osinfo.host_uuid(**kwargs) == derived  # stable
    dmi.write_text("4C4C4544-0031-5910-8044-B4C04F4E3332\n")
    assert osinfo.host_uuid(**kwargs) == "4c4c4544-0031-5910-8044-b4c04f4e3332"
    vdsm_id.write_text("my-host-id\n")
    assert osinfo.host_uuid(**kwargs) == "my-host-id"


def test_host_uuid_of_this_machine():
    assert uuid.UUID(osinfo.host_uuid())


def test_kvm_enabled_is_a_string(tmp_path):
    assert osinfo.kvm_enabled(str(tmp_path / "kvm")) == "false"
    assert osinfo.kvm_enabled(str(tmp_path)) == "true"
