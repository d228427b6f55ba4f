"""Hook points: site scripts that may inspect and edit what the agent does.

An administrator drops executable scripts into ``<hooks_dir>/<point>/``.
When the agent reaches a point it runs that directory's scripts one by
one, in sorted file-name order, each with a timeout. The exit code says
what happened:

- 0: success.
- 1: the script failed; the remaining scripts still run.
- 2: the script failed; the remaining scripts are skipped.
- any other code is treated like 1 (logged as unexpected); so is a
  script that cannot be started (a bad ``#!`` line gives 126 or 127).
- a script that runs past the timeout is killed with all its children
  and treated like 2.

When the point's failures are fatal (``raise_on_error``, by default true
for most ``before_*`` points and false for ``after_*`` ones, as in the
classic agent) any failure, even exit code 1, raises
:class:`~vdsm.common.errors.HookError` once the scripts have run.

Data travels in a temporary file: domain or device XML is named by the
environment variable ``_hook_domxml``, JSON by ``_hook_json``. The scripts
may rewrite the file; it is read back after the last script, so their
edits take effect. The VM's custom properties become environment
variables, its id is ``vmId``, and ``PYTHONPATH`` lets a Python script
import :mod:`vdsm_hooks.hooking` (also as plain ``hooking``).

Usage::

    hooks = Hooks.from_config(config)
    domxml = hooks.before_vm_start(domxml, custom=vm.custom, vm_id=vm.id)
    caps = hooks.after_get_caps(caps)
    hooks.before_vdsm_start()
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
from typing import Any, Callable, Iterator, Mapping

import vdsm_hooks
from vdsm.common import hookscripts
from vdsm.common.errors import HookError
from vdsm.common.hookpoints import POINTS, HookPoint, Payload

__all__ = ["DEFAULT_TIMEOUT", "POINTS", "HookPoint", "Hooks", "Payload",
           "installed_hooks", "run_hook"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0

DOMXML_ENV = "_hook_domxml"
JSON_ENV = "_hook_json"
VM_ID_ENV = "vmId"


def run_hook(hooks_dir: str, point: str, *, domxml: str | None = None,
             json_data: Any = None, env: Mapping[str, str] | None = None,
             custom: Mapping[str, Any] | None = None, vm_id: str | None = None,
             timeout: float = DEFAULT_TIMEOUT,
             raise_on_error: bool | None = None) -> Any:
    """Run the scripts of ``point`` and return the data as they left it.

    XML points return the (edited) XML string, or None when called without
    ``domxml``; JSON points return the decoded JSON (``json_data``
    defaults to ``{}``); points without data return None. With no scripts
    installed the input is returned untouched.

    ``env`` adds environment variables, ``custom`` (custom properties)
    too, values converted with str(). ``raise_on_error`` None means the
    point's own policy (:data:`POINTS`).

    Raises ValueError for an unknown point or data of the wrong kind, and
    HookError (after all scripts that were to run have run) when a script
    failed and failures are fatal. Thread-safe.
    """
    hp = POINTS.get(point)
    if hp is None:
        raise ValueError(f"unknown hook point {point!r}")
    if timeout <= 0:
        raise ValueError(f"hook timeout must be positive, got {timeout!r}")
    data = _payload(hp, domxml, json_data)
    fatal = hp.raise_on_error if raise_on_error is None else raise_on_error

    scripts = hookscripts.find_scripts(os.path.join(hooks_dir, point))
    if not scripts:
        return data
    with _data_file(hp, data) as path:
        script_env = _script_env(hp, path, env, custom, vm_id)
        failures = _run_scripts(point, scripts, script_env, timeout)
        if failures and fatal:
            raise _hook_error(point, failures)
        return _read_back(hp, path, data, fatal=fatal)


def installed_hooks(hooks_dir: str) -> dict[str, dict[str, dict[str, str]]]:
    """``{point: {script: {'checksum': sha256hex}}}`` for getVdsCapabilities.

    Lists every directory under ``hooks_dir`` that holds at least one
    runnable script, known point or not; a missing ``hooks_dir`` gives {}.
    """
    try:
        names = sorted(os.listdir(hooks_dir))
    except FileNotFoundError:
        log.debug("no hooks directory %s", hooks_dir)
        return {}
    result = {}
    for name in names:
        point_dir = os.path.join(hooks_dir, name)
        if not os.path.isdir(point_dir):
            continue
        scripts = hookscripts.find_scripts(point_dir)
        if scripts:
            result[name] = {os.path.basename(s):
                            {"checksum": hookscripts.checksum(s)}
                            for s in scripts}
    return result


class Hooks:
    """The hook points of one hooks directory, as methods.

    ``hooks.<point>(data=None, *, env=None, custom=None, vm_id=None,
    raise_on_error=None)`` runs any point of :data:`POINTS`; ``data`` is
    the XML string or the JSON value, as the point wants. Thread-safe.
    """

    def __init__(self, hooks_dir: str, *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.hooks_dir = hooks_dir
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Any) -> Hooks:
        return cls(config.hooks_dir,
                   timeout=float(config.get("vars", "hook_timeout")))

    def run(self, point: str, data: Any = None, **kwargs: Any) -> Any:
        """Run ``point`` with ``data``; see :func:`run_hook` for the rest."""
        hp = POINTS.get(point)
        if hp is None:
            raise ValueError(f"unknown hook point {point!r}")
        if hp.payload is Payload.XML:
            kwargs["domxml"] = data
        elif hp.payload is Payload.JSON:
            kwargs["json_data"] = data
        elif data is not None:
            raise ValueError(f"hook point {point} takes no data")
        return run_hook(self.hooks_dir, point, timeout=self.timeout, **kwargs)

    def installed(self) -> dict[str, dict[str, dict[str, str]]]:
        return installed_hooks(self.hooks_dir)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in POINTS:
            raise AttributeError(
                f"{type(self).__name__!r} has no attribute or hook point "
                f"{name!r}")
        return functools.partial(self.run, name)


def _payload(hp: HookPoint, domxml: str | None, json_data: Any) -> Any:
    if hp.payload is Payload.XML:
        if json_data is not None:
            raise ValueError(f"hook point {hp.name} takes XML, not JSON")
        return domxml
    if hp.payload is Payload.JSON:
        if domxml is not None:
            raise ValueError(f"hook point {hp.name} takes JSON, not XML")
        return {} if json_data is None else json_data
    if domxml is not None or json_data is not None:
        raise ValueError(f"hook point {hp.name} takes no data")
    return None


@contextlib.contextmanager
def _data_file(hp: HookPoint, data: Any) -> Iterator[str | None]:
    """A private temporary file holding the data, removed afterwards."""
    if data is None:
        yield None
        return
    text = data if hp.payload is Payload.XML else json.dumps(data)
    fd, path = tempfile.mkstemp(prefix=f"vdsm-hook-{hp.name}-",
                                suffix=f".{hp.payload.value}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _script_env(hp: HookPoint, path: str | None,
                env: Mapping[str, str] | None,
                custom: Mapping[str, Any] | None,
                vm_id: str | None) -> dict[str, str]:
    result = dict(os.environ)
    for source, values in (("env", env), ("custom property", custom)):
        for key, value in (values or {}).items():
            value = str(value)
            if not key or "=" in key or "\0" in key or "\0" in value:
                log.warning("hook %s: %s %r cannot be an environment "
                            "variable; not passed", hp.name, source, key)
                continue
            result[key] = value
    if vm_id:
        result[VM_ID_ENV] = str(vm_id)
    if path is not None:
        result[DOMXML_ENV if hp.payload is Payload.XML else JSON_ENV] = path
    result["PYTHONPATH"] = _python_path(result.get("PYTHONPATH", ""))
    return result


def _python_path(current: str) -> str:
    """Let hooks import ``vdsm_hooks.hooking`` and, classic style, ``hooking``."""
    package_dir = os.path.dirname(os.path.abspath(vdsm_hooks.__file__))
    parts = [p for p in current.split(os.pathsep) if p]
    for extra in (package_dir, os.path.dirname(package_dir)):
        if extra not in parts:
            parts.append(extra)
    return os.pathsep.join(parts)


def _run_scripts(point: str, scripts: list[str], env: Mapping[str, str],
                 timeout: float) -> list[hookscripts.ScriptResult]:
    """Run scripts in order until one stops the point; return the failures."""
    failures = []
    for i, path in enumerate(scripts):
        res = hookscripts.run_script(path, env=env, timeout=timeout)
        _log_result(point, res)
        if res.ok:
            continue
        failures.append(res)
        if res.stops:
            skipped = [os.path.basename(s) for s in scripts[i + 1:]]
            if skipped:
                log.warning("hook %s: skipping %s after %s failed", point,
                            ", ".join(skipped), res.name)
            break
    return failures


def _log_result(point: str, res: hookscripts.ScriptResult) -> None:
    err = res.err.strip()
    if res.out.strip():
        log.debug("hook %s/%s stdout: %s", point, res.name, res.out.strip())
    if res.problem:
        log.error("hook %s/%s %s (%.3fs): %s", point, res.name, res.problem,
                  res.elapsed, err)
    elif res.ok:
        log.info("hook %s/%s rc=0 in %.3fs%s", point, res.name, res.elapsed,
                 f", stderr: {err}" if err else "")
    else:
        note = "" if res.rc in (1, 2) else " (unexpected rc, treated as 1)"
        log.warning("hook %s/%s rc=%s%s in %.3fs, stderr: %s", point,
                    res.name, res.rc, note, res.elapsed, err)


def _hook_error(point: str,
                failures: list[hookscripts.ScriptResult]) -> HookError:
    last = failures[-1]
    what = last.problem or f"failed with rc={last.rc}"
    message = f"Hook {point}/{last.name} {what}"
    if last.err.strip():
        message += f": {last.err.strip()}"
    if len(failures) > 1:
        names = ", ".join(f.name for f in failures)
        message += f" ({len(failures)} scripts failed: {names})"
    return HookError(message, point=point, script=last.name, rc=last.rc,
                     stderr=last.err, failed=[f.name for f in failures])


def _read_back(hp: HookPoint, path: str | None, original: Any, *,
               fatal: bool) -> Any:
    """The data as the scripts left it."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if hp.payload is Payload.XML:
            return text
        return json.loads(text)
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError too
        message = f"Hook {hp.name} left unreadable {hp.payload.value} data: {e}"
        if fatal:
            raise HookError(message, point=hp.name) from None
        log.error("%s; keeping the data as it was", message)
        return original
