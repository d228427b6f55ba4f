"""The hook runner against real scripts in a temporary hooks directory."""

from __future__ import annotations

import hashlib
import logging
import os
import textwrap
import time
from xml.dom import minidom

import pytest

from vdsm.common import hooks
from vdsm.common.errors import HookError
from vdsm.common.hookpoints import POINTS, Payload

PYTHON = "/usr/bin/python3"
DOMXML = "<domain type='qemu'><name>vm1</name><memory>131072</memory></domain>"


def write_script(hooks_dir, point, name, body, *, mode=0o755, shell="/bin/sh"):
    point_dir = hooks_dir / point
    point_dir.mkdir(parents=True, exist_ok=True)
    path = point_dir / name
    path.write_text(f"#!{shell}\n" + textwrap.dedent(body))
    path.chmod(mode)
    return path


def appender(hooks_dir, point, name, *, rc=0, stderr=""):
    """A script that appends its name to $TRACE, writes stderr, exits rc."""
    body = f'echo {name} >> "$TRACE"\n'
    if stderr:
        body += f"echo '{stderr}' >&2\n"
    body += f"exit {rc}\n"
    return write_script(hooks_dir, point, name, body)


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "trace"
    path.write_text("")
    return path


def ran(trace):
    return trace.read_text().split()


def test_scripts_run_in_sorted_order(tmp_path, trace):
    for name in ("20_b", "05_c", "10_a"):
        appender(tmp_path, "before_vm_start", name)
    out = hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                         env={"TRACE": str(trace)})
    assert ran(trace) == ["05_c", "10_a", "20_b"]
    assert out == DOMXML


def test_exit_1_continues_and_raises_at_the_end(tmp_path, trace):
    appender(tmp_path, "before_vm_start", "10_fail", rc=1, stderr="soft")
    appender(tmp_path, "before_vm_start", "20_next")
    with pytest.raises(HookError) as e:
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)})
    assert ran(trace) == ["10_fail", "20_next"]
    assert "10_fail" in e.value.message and "soft" in e.value.message
    assert e.value.details["rc"] == 1


def test_exit_1_without_raise_returns_data(tmp_path, trace):
    appender(tmp_path, "before_vm_start", "10_fail", rc=1)
    appender(tmp_path, "before_vm_start", "20_next")
    out = hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                         env={"TRACE": str(trace)}, raise_on_error=False)
    assert ran(trace) == ["10_fail", "20_next"]
    assert out == DOMXML


def test_unexpected_exit_code_is_treated_like_1(tmp_path, trace, caplog):
    appender(tmp_path, "after_vm_start", "10_odd", rc=7)
    appender(tmp_path, "after_vm_start", "20_next")
    with caplog.at_level(logging.WARNING, logger="vdsm.common.hooks"):
        hooks.run_hook(str(tmp_path), "after_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)})
    assert ran(trace) == ["10_odd", "20_next"]
    assert "unexpected rc" in caplog.text


def test_exit_2_stops_and_raises(tmp_path, trace):
    appender(tmp_path, "before_vm_start", "10_ok")
    appender(tmp_path, "before_vm_start", "20_stop", rc=2, stderr="boom")
    appender(tmp_path, "before_vm_start", "30_never")
    with pytest.raises(HookError) as e:
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)})
    assert ran(trace) == ["10_ok", "20_stop"]
    assert "20_stop" in str(e.value) and "boom" in str(e.value)
    assert e.value.name == "HookError"
    assert e.value.details["script"] == "20_stop"


def test_exit_2_at_after_point_stops_without_raising(tmp_path, trace):
    appender(tmp_path, "after_vm_destroy", "10_stop", rc=2)
    appender(tmp_path, "after_vm_destroy", "20_never")
    out = hooks.run_hook(str(tmp_path), "after_vm_destroy", domxml=DOMXML,
                         env={"TRACE": str(trace)})
    assert ran(trace) == ["10_stop"]
    assert out == DOMXML


def test_only_regular_executable_files_run(tmp_path, trace, caplog):
    appender(tmp_path, "before_vm_start", "10_runs")
    write_script(tmp_path, "before_vm_start", "20_not_executable",
                 'echo 20 >> "$TRACE"\n', mode=0o644)
    write_script(tmp_path, "before_vm_start", ".30_hidden",
                 'echo 30 >> "$TRACE"\n')
    (tmp_path / "before_vm_start" / "40_directory").mkdir()
    with caplog.at_level(logging.DEBUG, logger="vdsm.common.hookscripts"):
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)})
    assert ran(trace) == ["10_runs"]
    assert "20_not_executable: not executable" in caplog.text
    assert "40_directory: not a regular file" in caplog.text


def test_python_hook_edits_domxml(tmp_path):
    write_script(tmp_path, "before_vm_start", "50_edit", """\
        from vdsm_hooks import hooking
        doc = hooking.read_domxml()
        doc.documentElement.setAttribute("id", "7")
        doc.getElementsByTagName("memory")[0].firstChild.data = "262144"
        hooking.write_domxml(doc)
        """, shell=PYTHON)
    out = hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML)
    domain = minidom.parseString(out).documentElement
    assert domain.getAttribute("id") == "7"
    memory = domain.getElementsByTagName("memory")[0].firstChild.data
    assert memory == "262144"


def test_classic_import_hooking_works(tmp_path):
    write_script(tmp_path, "after_get_caps", "50_classic", """\
        import hooking
        caps = hooking.read_json()
        caps["classic"] = True
        hooking.write_json(caps)
        """, shell=PYTHON)
    assert hooks.run_hook(str(tmp_path), "after_get_caps",
                          json_data={}) == {"classic": True}


def test_edits_accumulate_across_scripts(tmp_path):
    for name, tag in (("10_a", "first"), ("20_b", "second")):
        write_script(tmp_path, "before_vm_start", name, f"""\
            from vdsm_hooks import hooking
            doc = hooking.read_domxml()
            doc.documentElement.appendChild(doc.createElement("{tag}"))
            hooking.write_domxml(doc)
            """, shell=PYTHON)
    out = hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML)
    tags = [n.tagName for n in minidom.parseString(out).documentElement
            .childNodes]
    assert tags[-2:] == ["first", "second"]


def test_custom_properties_and_vm_id_in_env(tmp_path):
    result = tmp_path / "env"
    write_script(tmp_path, "before_vm_start", "50_env",
                 f'echo "$macspoof|$sap_agent|$vmId" > {result}\n')
    hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                   custom={"macspoof": "true", "sap_agent": 1},
                   vm_id="8a3e-11")
    assert result.read_text().strip() == "true|1|8a3e-11"


def test_invalid_env_names_are_not_passed(tmp_path, caplog):
    result = tmp_path / "env"
    write_script(tmp_path, "before_vm_start", "50_env",
                 f'echo "$good" > {result}\n')
    with caplog.at_level(logging.WARNING, logger="vdsm.common.hooks"):
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       custom={"good": "yes", "a=b": "x"})
    assert result.read_text().strip() == "yes"
    assert "'a=b' cannot be an environment variable" in caplog.text


def test_data_file_is_removed(tmp_path):
    record = tmp_path / "record"
    write_script(tmp_path, "before_vm_start", "50_record",
                 f'echo "$_hook_domxml" > {record}; cat "$_hook_domxml" >> {record}\n')
    hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML)
    path, content = record.read_text().split("\n", 1)
    assert content.strip() == DOMXML
    assert not os.path.exists(path)


def test_hanging_script_is_killed_at_timeout(tmp_path, trace):
    pidfile = tmp_path / "pid"
    # The shell waits for a child holding the output pipes: killing only
    # the shell would leave the agent blocked until the child exits.
    write_script(tmp_path, "before_vm_start", "10_hang",
                 f"sleep 30 & echo $! > {pidfile}; wait\n")
    appender(tmp_path, "before_vm_start", "20_never")
    start = time.monotonic()
    with pytest.raises(HookError) as e:
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)}, timeout=1.0)
    elapsed = time.monotonic() - start
    assert elapsed < 5.0
    assert "10_hang timed out after 1s" in str(e.value)
    assert ran(trace) == []
    assert_dead(int(pidfile.read_text()))


def assert_dead(pid, timeout=5.0):
    """The process is gone or a zombie (this machine's init reaps slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail(f"child {pid} of the timed-out hook is still running")


def test_script_that_cannot_start_fails_and_continues(tmp_path, trace):
    write_script(tmp_path, "before_vm_start", "10_bad_interpreter", "exit 0\n",
                 shell="/nonexistent/interpreter")
    appender(tmp_path, "before_vm_start", "20_next")
    with pytest.raises(HookError) as e:
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML,
                       env={"TRACE": str(trace)})
    assert "10_bad_interpreter failed with rc=127" in str(e.value)
    assert "No such file or directory" in str(e.value)
    # timeout(1) reports 127, "cannot run": treated like 1, so 20 still ran.
    assert ran(trace) == ["20_next"]


def test_every_run_is_logged(tmp_path, caplog):
    write_script(tmp_path, "before_vm_start", "10_talk",
                 "echo 'said something' >&2\n")
    with caplog.at_level(logging.INFO, logger="vdsm.common.hooks"):
        hooks.run_hook(str(tmp_path), "before_vm_start", domxml=DOMXML)
    line = next(r.getMessage() for r in caplog.records if "10_talk" in
                r.getMessage())
    assert "before_vm_start/10_talk rc=0 in" in line
    assert "said something" in line


def test_installed_hooks_reports_sha256(tmp_path):
    a = appender(tmp_path, "before_vm_start", "10_a")
    b = appender(tmp_path, "after_get_caps", "10_b", rc=1)
    write_script(tmp_path, "before_vm_start", "20_off", "exit 0\n", mode=0o644)
    (tmp_path / "after_vm_destroy").mkdir()
    (tmp_path / "stray_file").write_text("")
    assert hooks.installed_hooks(str(tmp_path)) == {
        "before_vm_start": {
            "10_a": {"checksum": hashlib.sha256(a.read_bytes()).hexdigest()}},
        "after_get_caps": {
            "10_b": {"checksum": hashlib.sha256(b.read_bytes()).hexdigest()}},
    }
    assert hooks.installed_hooks(str(tmp_path / "missing")) == {}


def test_json_round_trip(tmp_path):
    write_script(tmp_path, "before_network_setup", "50_mtu", """\
        from vdsm_hooks import hooking
        setup = hooking.read_json()
        for attrs in setup["request"]["networks"].values():
            attrs.setdefault("mtu", 9000)
        hooking.write_json(setup)
        """, shell=PYTHON)
    request = {"request": {"networks": {"ovirtmgmt": {"nic": "eth0"},
                                        "jumbo": {"nic": "eth1", "mtu": 1500}},
                           "bondings": {}, "options": {}}}
    out = hooks.run_hook(str(tmp_path), "before_network_setup",
                         json_data=request)
    assert out["request"]["networks"] == {
        "ovirtmgmt": {"nic": "eth0", "mtu": 9000},
        "jumbo": {"nic": "eth1", "mtu": 1500}}


def test_invalid_json_left_by_hook(tmp_path, caplog):
    for point in ("before_get_caps", "after_get_caps"):
        write_script(tmp_path, point, "50_break",
                     'echo "{not json" > "$_hook_json"\n')
    with pytest.raises(HookError, match="unreadable json"):
        hooks.run_hook(str(tmp_path), "before_get_caps")
    caps = {"kvmEnabled": "true"}
    assert hooks.run_hook(str(tmp_path), "after_get_caps",
                          json_data=caps) == caps
    assert "keeping the data as it was" in caplog.text


def test_no_scripts_returns_input(tmp_path):
    assert hooks.run_hook(str(tmp_path), "before_vm_start",
                          domxml=DOMXML) == DOMXML
    assert hooks.run_hook(str(tmp_path), "before_get_caps") == {}
    assert hooks.run_hook(str(tmp_path), "before_vdsm_start") is None


def test_point_without_data_gets_no_data_file(tmp_path):
    record = tmp_path / "record"
    write_script(tmp_path, "before_vdsm_start", "50_record",
                 f'echo "[${{_hook_domxml-}}${{_hook_json-}}]" > {record}\n')
    assert hooks.run_hook(str(tmp_path), "before_vdsm_start") is None
    assert record.read_text().strip() == "[]"


def test_bad_calls(tmp_path):
    with pytest.raises(ValueError, match="unknown hook point"):
        hooks.run_hook(str(tmp_path), "../../bin")
    with pytest.raises(ValueError, match="takes JSON"):
        hooks.run_hook(str(tmp_path), "after_get_caps", domxml=DOMXML)
    with pytest.raises(ValueError, match="takes XML"):
        hooks.run_hook(str(tmp_path), "before_vm_start", json_data={})
    with pytest.raises(ValueError, match="takes no data"):
        hooks.run_hook(str(tmp_path), "after_vdsm_stop", domxml=DOMXML)
    with pytest.raises(ValueError, match="positive"):
        hooks.run_hook(str(tmp_path), "after_vdsm_stop", timeout=0)


def test_point_table():
    readme_points = [f"{when}_{stem}" for when in ("before", "after") for stem in (
        "vm_start", "vm_cont", "vm_pause", "vm_hibernate", "vm_dehibernate",
        "vm_migrate_source", "vm_migrate_destination", "vm_set_ticket",
        "device_create", "device_destroy", "disk_hotplug", "disk_hotunplug",
        "nic_hotplug", "nic_hotunplug", "network_setup", "get_caps",
        "get_stats", "get_vm_stats", "get_all_vm_stats")]
    readme_points += ["after_vm_destroy", "before_vdsm_start", "after_vdsm_stop"]
    assert set(readme_points) <= set(POINTS)
    assert POINTS["before_vm_start"].raise_on_error
    assert not POINTS["after_vm_start"].raise_on_error
    assert not POINTS["before_vdsm_start"].raise_on_error
    assert POINTS["after_get_caps"].payload is Payload.JSON
    assert POINTS["after_vdsm_stop"].payload is Payload.NONE


def test_hooks_object(tmp_path, trace):
    appender(tmp_path, "before_vm_start", "10_stop", rc=2)
    appender(tmp_path, "after_vm_start", "10_stop", rc=2)
    write_script(tmp_path, "after_get_caps", "10_caps", """\
        from vdsm_hooks import hooking
        hooking.write_json(dict(hooking.read_json(), hooked=True))
        """, shell=PYTHON)
    h = hooks.Hooks(str(tmp_path), timeout=5)
    env = {"env": {"TRACE": str(trace)}}
    with pytest.raises(HookError):
        h.before_vm_start(DOMXML, **env)
    assert h.after_vm_start(DOMXML, **env) == DOMXML
    assert h.after_get_caps({"a": 1}) == {"a": 1, "hooked": True}
    assert h.before_vdsm_start() is None
    assert set(h.installed()) == {"before_vm_start", "after_vm_start",
                                  "after_get_caps"}
    with pytest.raises(AttributeError):
        h.before_vm_strat  # noqa: B018
    with pytest.raises(ValueError, match="takes no data"):
        h.run("after_vdsm_stop", "data")


def test_hooks_from_config(tmp_path):
    from vdsm import config

    values = config.rooted(str(tmp_path))
    values[("vars", "hook_timeout")] = 7.5
    conf_file = tmp_path / "vdsm.conf"
    config.write(str(conf_file), values)
    h = hooks.Hooks.from_config(config.load(str(conf_file)))
    assert h.hooks_dir == str(tmp_path / "usr/libexec/vdsm/hooks")
    assert h.timeout == 7.5
