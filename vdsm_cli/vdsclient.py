"""vdsClient: the administrator's command line of the agent.

    vdsClient [-s] [options] HOST[:PORT] VERB [ARGS...]

Verbs, their arguments and their help come from the API schema; only the
old client's alias names are kept here (:mod:`vdsm_cli.verbs`). Arguments
are converted by parameter type (:mod:`vdsm_cli.args`), answers printed
readably or as JSON (:mod:`vdsm_cli.output`). The agent is reached over
XML-RPC (:mod:`vdsm_cli.transport`) or, with ``--jsonrpc``, over STOMP and
JSON-RPC (:mod:`vdsm_cli.jsonrpc_transport`), with the same output.
"""

from __future__ import annotations

import argparse
import logging
import sys
import xmlrpc.client
from typing import Any

from vdsm import config as vdsm_config
from vdsm.api import schema as api_schema
from vdsm.api.schema import Schema, Verb
from vdsm.common.errors import InvalidConfiguration
from vdsm_cli import args as cli_args
from vdsm_cli import help as cli_help
from vdsm_cli import (
    jsonrpc_transport,
    output,
    transport,
    verbs,
    vm_cli,  # noqa: F401  (registers the VM verbs' syntax)
)
from vdsm_cli.errors import EXIT_FAILED, EXIT_OK, CliError, TransportError, UsageError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="vdsClient", add_help=False)
    parser.add_argument("-s", "--ssl", action="store_true")
    parser.add_argument("--config")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--cacert")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--jsonrpc", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-h", "--help", nargs="?", const="", metavar="VERB")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None, *, schema: Schema | None = None) -> int:
    """Run one command line; returns the exit status (see vdsm_cli.errors).

    ``schema`` replaces the packaged API schema (for tests).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _run(argv, schema or api_schema.load())
    except CliError as e:
        sys.stderr.write(f"vdsClient: {e.message}\n")
        if isinstance(e, UsageError) and not argv:
            sys.stderr.write(cli_help.USAGE.format(timeout=DEFAULT_TIMEOUT))
        return e.exit_code
    except BrokenPipeError:
        # The reader left early (vdsClient ... | head); nothing to report.
        return EXIT_FAILED


def _run(argv: list[str], schema: Schema) -> int:
    opts = _parser().parse_args(argv)
    rest: list[str] = opts.rest
    if opts.help is not None:
        return _help(schema, opts.help)
    if len(rest) >= 2 and rest[2:] in (["-h"], ["--help"]):
        return _help(schema, rest[1])
    if len(rest) < 2:
        raise UsageError("expected HOST[:PORT] VERB [ARGS...] "
                         "(vdsClient --help lists every verb)")
    if opts.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")
    verb = verbs.resolve(schema, rest[1])
    mode, verb_argv = output.take_mode(verb, rest[2:])
    call_args = cli_args.build(verb, verb_argv)

    config = _load_config(opts.config)
    endpoint = transport.parse_endpoint(
        rest[0], default_port=config.get("addresses", "management_port"),
        tls=opts.ssl)
    context = None
    if opts.ssl:
        context = transport.tls_context(
            opts.cacert or config.ca_cert,
            opts.cert or config.host_cert,
            opts.key or (None if opts.cert else config.host_key))
    timeout = opts.timeout if opts.timeout > 0 else None
    name = verb.name if opts.jsonrpc else verbs.call_name(verb)
    log.debug("calling %s%s", name, tuple(_masked(verb, call_args)))
    try:
        if opts.jsonrpc:
            answer = jsonrpc_transport.call(endpoint, verb, call_args,
                                            context=context, timeout=timeout)
        else:
            proxy = transport.make_proxy(endpoint, context=context,
                                         timeout=timeout)
            answer = transport.call(proxy, endpoint, name, call_args)
    except xmlrpc.client.Fault as e:
        return _fault(e.faultCode, e.faultString)
    except jsonrpc_transport.Fault as e:
        return _fault(e.code, e.message)
    return _report(verb, answer, json_output=opts.json, mode=mode)


def _fault(code: int, message: str) -> int:
    sys.stderr.write(f"ERROR (fault {code}): {message}\n")
    return EXIT_FAILED


def _report(verb: Verb, answer: Any, *, json_output: bool,
            mode: str | None) -> int:
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict) or "code" not in status:
        raise TransportError(f"answer without a status: {answer!r:.200}")
    if json_output:
        output.print_json(answer, sys.stdout)
    code = status["code"]
    if code != 0:
        sys.stderr.write(f"ERROR (code {code}): {status.get('message', '')}\n")
        return EXIT_FAILED
    if not json_output:
        output.print_answer(verb, answer, sys.stdout, mode=mode)
    return EXIT_OK


def _help(schema: Schema, verb_name: str) -> int:
    if verb_name:
        sys.stdout.write(cli_help.verb_detail(verbs.resolve(schema, verb_name)))
    else:
        sys.stdout.write(cli_help.full(schema, timeout=DEFAULT_TIMEOUT))
    return EXIT_OK


def _load_config(path: str | None) -> vdsm_config.Config:
    try:
        return vdsm_config.load(path)
    except InvalidConfiguration as e:
        raise UsageError(f"configuration: {e.message}") from None


def _masked(verb: Verb, call_args: list[Any]) -> list[Any]:
    """Arguments for the log, secret parameters hidden."""
    shown = []
    for name, value in zip(verb.classic_params, call_args, strict=False):
        param = verb.param(name)
        shown.append("****" if param is not None and param.secret else value)
    return shown


if __name__ == "__main__":
    sys.exit(main())
