"""OS and CPU checks: parsers on recorded files, then this very host."""

from __future__ import annotations

from vds_bootstrap import checks, report

RHEL9 = '''NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
'''
UBUNTU = '''PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
ID=ubuntu
ID_LIKE=debian
'''
ALPINE = 'NAME="Alpine Linux"\nID=alpine\n'
CPUINFO = '''processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse vmx ssse3
processor\t: 1
flags\t\t: fpu
'''


def test_os_family() -> None:
    assert checks.os_family(checks.parse_os_release(RHEL9)) == "rhel"
    assert checks.os_family(checks.parse_os_release(UBUNTU)) == "debian"
    assert checks.os_family(checks.parse_os_release(ALPINE)) is None
    fields = checks.parse_os_release(RHEL9)
    assert fields["PRETTY_NAME"] == "Red Hat Enterprise Linux 9.3 (Plow)"


def test_kernel_version() -> None:
    assert checks.kernel_version("6.1.0-18-amd64") == (6, 1)
    assert checks.kernel_version("5.14.0-362.el9.x86_64") == (5, 14)
    assert checks.kernel_version("6.18.44-fc-v595") == (6, 18)
    assert checks.kernel_version("4") == (4, 0)


def test_cpu_flags() -> None:
    assert "vmx" in checks.cpu_flags(CPUINFO)
    assert checks.cpu_flags("processor : 0\n") == set()


def test_os_check_unknown_distribution(tmp_path) -> None:
    path = tmp_path / "os-release"
    path.write_text(ALPINE)
    result = checks.check_os(os_release=str(path))
    assert result.status == report.WARN
    assert "Alpine Linux" in result.message


def test_cpu_without_flags_is_tcg_warning(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text("processor : 0\nflags : fpu sse\n")
    result = checks.check_cpu(cpuinfo=str(path))
    assert result.status == report.WARN and "TCG fallback" in result.message


def test_cpu_with_flags_but_no_kvm_device(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    result = checks.check_cpu(cpuinfo=str(path),
                              kvm_dev=str(tmp_path / "no-kvm"))
    assert result.status == report.WARN and "TCG fallback" in result.message


def test_this_host() -> None:
    # Debian 12 on these machines; the CPU may or may not offer KVM.
    assert checks.check_os().status == report.OK
    assert checks.check_cpu().status in (report.OK, report.WARN)
