"""Agent configuration: every default, with its meaning, in one table.

The file is INI (``/etc/vdsm/vdsm.conf`` unless ``--config FILE`` or the
``VDSM_CONF`` environment variable names another), followed by any
``*.conf`` in the ``vdsm.conf.d`` directory beside it, in sorted order.
The :class:`Config` object is passed to whatever needs it; nothing reads
the file behind its caller's back. ``vdsmd --print-config`` shows the
effective values.
"""

from __future__ import annotations

import configparser
import glob
import os
from dataclasses import dataclass
from typing import Any, Iterator

from vdsm.common.errors import InvalidConfiguration

DEFAULT_CONF = "/etc/vdsm/vdsm.conf"
ENV_CONF = "VDSM_CONF"


@dataclass(frozen=True)
class Option:
    section: str
    key: str
    default: Any
    doc: str

    @property
    def kind(self) -> type:
        return type(self.default)


# The single documented list of settings. Paths are the classic agent's.
OPTIONS: tuple[Option, ...] = (
    Option("vars", "ssl", True,
           "Serve the API over mutual TLS. false is refused unless "
           "management_ip is a loopback address."),
    Option("vars", "trust_store_path", "/etc/pki/vdsm",
           "PKI directory: certs/cacert.pem, certs/vdsmcert.pem, "
           "keys/vdsmkey.pem."),
    Option("vars", "run_dir", "/run/vdsm",
           "Runtime files: pid files, sockets."),
    Option("vars", "state_dir", "/var/lib/vdsm",
           "Persistent state: tasks, network persistence, ..."),
    Option("vars", "log_dir", "/var/log/vdsm",
           "vdsm.log and supervdsm.log live here."),
    Option("vars", "hooks_dir", "/usr/libexec/vdsm/hooks",
           "Hook scripts, one directory per hook point."),
    Option("vars", "vdsm_user", "vdsm",
           "Unprivileged user vdsmd runs as once its sockets are set up."),
    Option("vars", "drop_privileges", True,
           "When started as root, switch to vdsm_user after setup."),
    Option("vars", "libvirt_uri", "qemu:///system",
           "libvirt connection URI."),
    Option("vars", "host_stats_interval", 2.0,
           "Seconds between background host statistics samples."),
    Option("vars", "hook_timeout", 60.0,
           "Seconds a single hook script may run before it is killed."),
    Option("vars", "task_workers", 10,
           "Worker threads running asynchronous tasks."),
    Option("addresses", "management_ip", "",
           "Address the API listens on; empty means all addresses."),
    Option("addresses", "management_port", 54321,
           "TCP port of the API."),
    Option("rpc", "worker_threads", 8,
           "Threads serving API requests; more requests wait in a queue."),
    Option("rpc", "request_queue_size", 256,
           "Whole requests that may wait for a worker; beyond that a call is "
           "answered 'busy' (HTTP 503, JSON-RPC -32603)."),
    Option("rpc", "max_request_bytes", 10 * 1024 * 1024,
           "Largest request body accepted; larger ones are refused (413)."),
    Option("rpc", "connection_timeout", 60.0,
           "Seconds a client may take to send one whole request (or its "
           "STOMP CONNECT) once it has started."),
    Option("rpc", "handshake_timeout", 10.0,
           "Seconds a new connection may take to finish its TLS handshake "
           "and send its first bytes."),
    Option("rpc", "idle_timeout", 300.0,
           "Seconds an idle HTTP keep-alive connection is kept open."),
    Option("rpc", "max_connections", 1000,
           "Open API connections, in total; more are refused at once."),
    Option("rpc", "max_connections_per_address", 100,
           "Open API connections from one client address."),
    Option("rpc", "max_pending_bytes", 16 * 1024 * 1024,
           "Unsent bytes a STOMP subscriber may fall behind by before it is "
           "disconnected."),
    Option("rpc", "stomp_heartbeat_ms", 10000,
           "Most milliseconds between STOMP heart-beats the agent sends "
           "(when the client asks for them); keeps long calls alive."),
    Option("irs", "repository", "/rhev/data-center",
           "Storage root: mounts under <repository>/mnt, pools under "
           "<repository>/<spUUID>."),
    Option("supervdsm", "socket", "/run/vdsm/svdsm.sock",
           "Unix socket of the privileged helper supervdsmd."),
    Option("supervdsm", "timeout", 60.0,
           "Seconds vdsmd waits for a supervdsm answer."),
    Option("logging", "level", "INFO",
           "Root log level: DEBUG, INFO, WARNING, ERROR."),
    # --- virt: VM lifecycle and monitoring ---
    Option("vars", "domain_type", "kvm",
           "libvirt domain type of every VM: kvm (hardware acceleration) or "
           "qemu (TCG emulation, for hosts where KVM cannot be used). A VM "
           "asking kvmEnable=false always gets qemu."),
    Option("vars", "vm_sample_interval", 15.0,
           "Seconds between bulk VM statistics samples (one libvirt call for "
           "all VMs); getAllVmStats answers from the latest sample."),
    Option("vars", "vm_sample_timeout", 2.0,
           "Seconds a statistics call may take; a VM whose QEMU does not "
           "answer in time is reported with monitorResponse -1 and left out "
           "of the bulk calls until it answers again."),
    Option("vars", "guest_agent_interval", 60.0,
           "Seconds between guest agent queries (hostname, OS, IPs, file "
           "systems) of each VM, in their own threads apart from sampling."),
    Option("vars", "guest_agent_timeout", 5.0,
           "Seconds a guest agent call may take; a guest that does not "
           "answer is asked again only after a growing back-off."),
    Option("vars", "vm_channel_dir", "/var/lib/libvirt/qemu/channels",
           "Directory of the oVirt guest agent channel sockets "
           "(<vmId>.ovirt-guest-agent.0), created by QEMU: it must be "
           "writable by QEMU's user and readable by the agent."),
    Option("vars", "vm_console_log", True,
           "Log each VM's serial console to <log_dir>/console/<vmId>.log."),
    Option("vars", "user_shutdown_timeout", 30.0,
           "Seconds a graceful VM shutdown may take when the caller gives no "
           "timeout, before the next method or a forced stop."),
    # --- virt: live migration ---
    Option("vars", "vm_watermark_interval", 2.0,
           "Seconds between the periodic checks of running VMs' thin block "
           "disks (a safety net beside libvirt's block-threshold events)."),
    Option("vars", "migration_downtime", 500,
           "Milliseconds of guest pause a migration may end with, at most, "
           "when the caller gives no downtime; reached in steps."),
    Option("vars", "migration_downtime_steps", 10,
           "Steps in which the allowed downtime rises to its maximum while a "
           "migration does not converge."),
    Option("vars", "migration_monitor_interval", 1.0,
           "Seconds between two looks at a migration's progress."),
    Option("vars", "migration_progress_timeout", 150.0,
           "Seconds a migration may go without progress (remaining data not "
           "shrinking) before it is aborted; the VM stays on the source."),
    Option("vars", "migration_max_time_per_gib_mem", 64.0,
           "Seconds per GiB of guest memory a migration may take in all "
           "before it is aborted (0: no limit)."),
    Option("vars", "max_outgoing_migrations", 2,
           "Migrations this host sends at once; more wait their turn."),
    Option("vars", "max_incoming_migrations", 2,
           "Migrations this host receives at once; more are refused (82) "
           "and the source tries again later."),
    Option("vars", "migration_destination_timeout", 120.0,
           "Seconds a destination waits for the incoming domain to arrive "
           "and run before giving the VM up."),
    Option("vars", "migration_create_timeout", 60.0,
           "Seconds the source waits for the destination agent's answer."),
    Option("vars", "migration_libvirt_uri", "qemu+tls://{host}/system",
           "libvirt URI of the destination for peer-to-peer migration; "
           "{host} is the destination agent's host, {dstqemu} the migration "
           "network address (the host when none is given)."),
    # --- network: host network configuration ---
    Option("network", "netns", "",
           "Network namespace (a name under /run/netns) whose devices the "
           "agent configures and reports; empty: the host's own. Tests "
           "point it at a namespace of their own."),
    Option("network", "connectivity_timeout", 4,
           "Seconds to wait for a client after a setupNetworks with "
           "connectivityCheck but no connectivityTimeout (classic default)."),
    Option("network", "restore_on_start", True,
           "At the first agent start after a boot, restore the last "
           "configuration marked safe by setSafeNetworkConfig."),
    Option("network", "dhcp_timeout", 30,
           "Seconds a network with bootproto dhcp waits for its lease; "
           "without one the change fails (code 29) and is undone."),
    # --- storage: image repository ---
    Option("irs", "lease_manager", "sanlock",
           "Lease manager for host ids and the SPM/volume leases (sanlock)."),
    Option("irs", "process_pool_timeout", 60.0,
           "Seconds a storage I/O call (run in a helper process) may take "
           "before it is abandoned as hung."),
    Option("irs", "sd_health_check_delay", 10.0,
           "Seconds between two checks of a monitored storage domain."),
    Option("irs", "resource_timeout", 120.0,
           "Seconds a verb waits for its locks on a pool, domain or image."),
    Option("irs", "host_id_timeout", 60.0,
           "Seconds spmStart waits for this host's id on the master domain."),
    Option("irs", "spm_check_interval", 5.0,
           "Seconds between the SPM's checks that it still holds its host id "
           "(it stops being SPM when storage is lost)."),
    Option("irs", "mailbox_poll_interval", 2.0,
           "Seconds between two reads of the pool's mailbox: the SPM reads "
           "the inbox (extend requests of all hosts), every host its slot "
           "of the outbox (the SPM's answers)."),
    Option("irs", "mailbox_event_interval", 0.5,
           "Seconds between the SPM's looks at the inbox's event block, which "
           "a host writes with each new request (the SPM then reads the inbox "
           "at once), and between a waiting host's looks for its answer. "
           "0 turns events off: requests wait for the next poll."),
    Option("irs", "copy_bandwidth_mib", 0.0,
           "MiB per second one copy of image data between domains may use "
           "(qemu-img convert -r; cloneImageStructure/syncImageData/"
           "moveImage, SDM.copy_data); 0 for no limit."),
    Option("irs", "test_pause_file", "",
           "For tests only, never set in production: crash tests pause SPM "
           "jobs at named steps through this file (see vdsm.storage.faults)."),
    Option("irs", "sparsify_host_trim", False,
           "sparsifyImage without virt-sparsify: let supervdsm loop-mount a "
           "RAW volume's file systems on the host and fstrim them (exposes "
           "the host kernel to the guest's file system; off by default)."),
    Option("irs", "list_loop_devices", False,
           "For tests only, never set in production: list attached loop "
           "devices as LUNs (getDeviceList, createVG), standing in for a SAN."),
    Option("irs", "lv_dir", "/dev",
           "Where a block domain's LVs appear as <lv_dir>/<VG>/<LV> (device-"
           "mapper's /dev on every real host; tests point it at files)."),
    Option("irs", "lv_activation", True,
           "Activate and deactivate block volumes' LVs through device-mapper. "
           "For tests only, set it off: hosts without device-mapper, where "
           "something else serves the LVs under lv_dir."),
    Option("irs", "volume_utilization_percent", 50,
           "Thin provisioning: a block volume is extended when free space in "
           "its LV falls below this percent of a chunk (the watermark)."),
    Option("irs", "volume_utilization_chunk_mb", 2560,
           "Thin provisioning: MiB a block volume's LV grows by per extension."),
    Option("irs", "iscsi_discovery", "iscsiadm",
           "How discoverSendTargets asks a portal: iscsiadm (through "
           "supervdsm and iscsid) or libiscsi (user-space iscsi-ls, for hosts "
           "without an iSCSI initiator)."),
    Option("sanlock", "io_timeout", 10,
           "sanlock I/O timeout (seconds) of new lockspaces and leases."),
    Option("sanlock", "run_dir", "/run/sanlock",
           "Where the sanlock daemon keeps its socket and pid file "
           "(SANLOCK_RUN_DIR in vdsmd's environment overrides it)."),
    Option("sanlock", "watchdog", False,
           "vds_bootstrap starts sanlock with a watchdog (-w 1: the host is "
           "reset when it loses its storage leases) if this is set and the "
           "host has /dev/watchdog with wdmd running; else without (-w 0)."),
    # --- metrics: Prometheus exposition of what the agent already samples ---
    Option("metrics", "enabled", True,
           "Serve Prometheus metrics at http://<address>:<port>/metrics."),
    Option("metrics", "address", "127.0.0.1",
           "Address of the metrics listener (plain HTTP, no authentication: "
           "keep it on loopback unless the network is trusted)."),
    Option("metrics", "port", 9111,
           "TCP port of the metrics listener; 0 picks a free port (tests)."),
    # --- policy: the memory and QoS policy engine (issue 14, classic MOM) ---
    Option("policy", "enabled", True,
           "Run the policy engine (KSM, balloon, I/O tuning) in vdsmd."),
    Option("policy", "interval", 15.0,
           "Seconds between policy cycles (classic MOM's policy-engine-"
           "interval default)."),
    # --- registration: vdsm-reg joins the host to a manager (vdsm_reg/) ---
    Option("registration", "manager_url", "",
           "https://manager[:port][/prefix] to register with; empty: vdsm-reg "
           "does nothing."),
    Option("registration", "manager_fingerprint", "",
           "SHA-256 fingerprint (AA:BB:...) the manager's CA must have; "
           "empty trusts the CA fetched on first use (logged)."),
    Option("registration", "host_address", "",
           "Address sent to the manager; empty: management_ip, else the "
           "local address of the route to the manager."),
    Option("registration", "retry_initial", 5.0,
           "Seconds before the first retry; doubled per attempt, jittered."),
    Option("registration", "retry_max", 300.0,
           "Longest wait between two registration attempts (seconds)."),
    Option("registration", "retry_timeout", 0.0,
           "Give up after this many seconds (exit 2); 0 retries until "
           "approved."),
    Option("registration", "request_timeout", 30.0,
           "Seconds one request to the manager may take."),
    # --- fencing proxy (Host.fenceNode) ---
    Option("fencing", "agent_dir", "/usr/sbin",
           "Where the fence agents are: fenceNode's agent X runs "
           "<agent_dir>/fence_X (the fence-agents package installs there)."),
    Option("fencing", "timeout", 120.0,
           "Seconds a fence agent may run before it is killed and fenceNode "
           "answers a failure (fence_ipmilan alone waits 20 s on an "
           "unreachable device, longer with retries)."),
)

_BY_KEY = {(o.section, o.key): o for o in OPTIONS}


class Config:
    """Effective configuration: defaults overlaid with the files read."""

    def __init__(self, values: dict[tuple[str, str], Any] | None = None,
                 files: list[str] | None = None) -> None:
        self._values = {(o.section, o.key): o.default for o in OPTIONS}
        self.files = files or []
        for (section, key), value in (values or {}).items():
            self.set(section, key, value)

    def get(self, section: str, key: str) -> Any:
        try:
            return self._values[(section, key)]
        except KeyError:
            raise InvalidConfiguration(
                f"unknown configuration option [{section}] {key}") from None

    def set(self, section: str, key: str, value: Any) -> None:
        option = _BY_KEY.get((section, key))
        if option is None:
            raise InvalidConfiguration(
                f"unknown configuration option [{section}] {key}")
        self._values[(section, key)] = _coerce(option, value)

    def items(self) -> Iterator[tuple[str, str, Any]]:
        for o in OPTIONS:
            yield o.section, o.key, self._values[(o.section, o.key)]

    # Convenience accessors for the paths every subsystem uses.
    @property
    def pki_dir(self) -> str:
        return self.get("vars", "trust_store_path")

    @property
    def ca_cert(self) -> str:
        return os.path.join(self.pki_dir, "certs", "cacert.pem")

    @property
    def host_cert(self) -> str:
        return os.path.join(self.pki_dir, "certs", "vdsmcert.pem")

    @property
    def host_key(self) -> str:
        return os.path.join(self.pki_dir, "keys", "vdsmkey.pem")

    @property
    def run_dir(self) -> str:
        return self.get("vars", "run_dir")

    @property
    def state_dir(self) -> str:
        return self.get("vars", "state_dir")

    @property
    def log_dir(self) -> str:
        return self.get("vars", "log_dir")

    @property
    def hooks_dir(self) -> str:
        return self.get("vars", "hooks_dir")

    @property
    def supervdsm_socket(self) -> str:
        return self.get("supervdsm", "socket")

    @property
    def repository(self) -> str:
        return self.get("irs", "repository")

    @property
    def mount_root(self) -> str:
        return os.path.join(self.repository, "mnt")

    def format(self) -> str:
        """The effective configuration as an INI text (for --print-config)."""
        lines: list[str] = []
        sections = list(dict.fromkeys(o.section for o in OPTIONS))
        for section in sections:
            lines.append(f"\n[{section}]" if lines else f"[{section}]")
            for o in OPTIONS:
                if o.section == section:
                    lines.append(f"# {o.doc}")
                    lines.append(f"{o.key} = {_render(self.get(o.section, o.key))}")
        return "\n".join(lines) + "\n"


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(option: Option, value: Any) -> Any:
    kind = option.kind
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return kind(text)
    except ValueError:
        raise InvalidConfiguration(
            f"[{option.section}] {option.key}: {text!r} is not a valid "
            f"{kind.__name__}") from None


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(ENV_CONF) or DEFAULT_CONF


def load(path: str | None = None) -> Config:
    """Read the configuration file and its conf.d.

    A missing default file means the defaults; a missing file that was
    named explicitly (argument or VDSM_CONF) is an error.

    Raises InvalidConfiguration on an unknown option or a bad value, so a
    typo in the file stops the daemon with a clear message.
    """
    explicit = path or os.environ.get(ENV_CONF)
    path = config_path(path)
    if explicit and not os.path.exists(path):
        raise InvalidConfiguration(f"configuration file {path} does not exist")
    files = [path] if os.path.exists(path) else []
    files += sorted(glob.glob(os.path.join(path + ".d", "*.conf")))
    files += sorted(glob.glob(os.path.join(os.path.dirname(path),
                                           "vdsm.conf.d", "*.conf")))
    config = Config(files=[])
    for name in dict.fromkeys(files):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(name)
        except configparser.Error as e:
            raise InvalidConfiguration(f"{name}: {e}") from None
        for section in parser.sections():
            for key, value in parser.items(section):
                config.set(section, key, value)
        config.files.append(name)
    return config


def write(config_file: str, values: dict[tuple[str, str], Any]) -> None:
    """Write the given options (and only those) as an INI file."""
    parser = configparser.ConfigParser(interpolation=None)
    for (section, key), value in values.items():
        option = _BY_KEY.get((section, key))
        if option is None:
            raise InvalidConfiguration(f"unknown option [{section}] {key}")
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, _render(_coerce(option, value)))
    os.makedirs(os.path.dirname(os.path.abspath(config_file)), exist_ok=True)
    tmp = config_file + ".tmp"
    with open(tmp, "w") as f:
        parser.write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, config_file)


def rooted(root: str, **overrides: Any) -> dict[tuple[str, str], Any]:
    """Option values that keep every path of an agent under ``root``.

    Used by tests and by ``vds_bootstrap --root`` to run a whole agent in a
    temporary directory.
    """
    values: dict[tuple[str, str], Any] = {
        ("vars", "trust_store_path"): os.path.join(root, "etc/pki/vdsm"),
        ("vars", "run_dir"): os.path.join(root, "run/vdsm"),
        ("vars", "state_dir"): os.path.join(root, "var/lib/vdsm"),
        ("vars", "log_dir"): os.path.join(root, "var/log/vdsm"),
        ("vars", "vm_channel_dir"): os.path.join(root, "run/vdsm/channels"),
        ("vars", "hooks_dir"): os.path.join(root, "usr/libexec/vdsm/hooks"),
        ("irs", "repository"): os.path.join(root, "rhev/data-center"),
        ("supervdsm", "socket"): os.path.join(root, "run/vdsm/svdsm.sock"),
        ("sanlock", "run_dir"): os.path.join(root, "run/sanlock"),
    }
    for name, value in overrides.items():
        section, _, key = name.partition("__")
        values[(section, key)] = value
    return values
