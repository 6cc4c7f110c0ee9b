"""The ``kpatchkit`` console script: a thin dispatcher over the stage packages.

Each subcommand lives in ``kpatchkit/<stage>/command.py`` with two functions:
``configure(parser)`` adds its arguments, ``run(args) -> int`` does the work and returns the
exit code. Those modules import their heavy dependencies inside ``run`` so that ``--help`` and
unrelated subcommands stay fast, and tests call ``run`` directly without a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator

from kpatchkit import __version__
from kpatchkit.errors import EXIT_INFRA, EXIT_USAGE, Interrupted, KpatchkitError, save_traceback

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "fetch": ("kpatchkit.fetch.command",
              "read a patch or series from mail, mbox, archive or server"),
    "tree": ("kpatchkit.trees.command", "add or list kernel trees under kernel_src/"),
    "apply": ("kpatchkit.apply.command", "apply (and port) a series to a kernel tree"),
    "analyze": ("kpatchkit.analyze.command", "locking/RCU analysis of the MMU sources"),
    "gen-tests": ("kpatchkit.gentests.command", "render COW-write KVM selftests"),
    "run": ("kpatchkit.run.command", "build base/patched kernels and run selftests in QEMU"),
    "report": ("kpatchkit.report.command", "render a review's reports from its results"),
    "publish": ("kpatchkit.report.publish_command", "publish an index of review runs"),
    "review": ("kpatchkit.review.command", "the whole review: fetch to report"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in kpatchkit's one-line format (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise KpatchkitError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = _Parser(prog="kpatchkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kpatchkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            sp.set_defaults(_unavailable=name)
            continue
        mod.configure(sp)
        sp.set_defaults(_run=mod.run)
    return parser


def _fail(message: str, code: int, *, kind: str = "user", as_json: bool = False,
          payload: dict | None = None) -> int:
    """Report a failure: one ``kpatchkit: error:`` line on stderr (control characters and
    line breaks out, so CI logs can grep it), and under ``--json`` one JSON object on stdout.
    Never raises: error handling must not fail."""
    from kpatchkit import console

    text = " ".join(console.clean(str(message), newlines=False).split()) or "unknown error"
    if as_json and not console.emitted():
        try:
            console.emit_json({"error": {**(payload or {}), "kind": kind, "message": text}})
        except Exception:  # noqa: BLE001 - a closed stdout or an odd payload
            pass
    try:
        print(f"kpatchkit: error: {text}", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - stderr closed: the exit code still says it
        pass
    return code


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread (once: a second signal
    during the cleanup that follows is ignored), so ``finally`` blocks remove temporaries."""
    fired: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread (a test calling main from a thread)
        pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map every failure to an exit code without a traceback.

    User error exits 2, the patch 1, infrastructure 3, a bug in kpatchkit 3 with "internal
    error" and the traceback in a log file; a signal 128+N after removing temporaries. With
    ``--json`` an error is still one JSON object: ``{"error": {"kind": ..., "message": ...}}``.
    """
    from kpatchkit import atomic, console

    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    atomic.reset()
    console.reset()
    with _signals_raise():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            as_json = bool(getattr(args, "json", as_json))
            if getattr(args, "_unavailable", None):
                raise KpatchkitError(f"'{args._unavailable}' is not available in this build")
            if not getattr(args, "_run", None):
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            return int(args._run(args) or 0)
        except KpatchkitError as exc:
            return _fail(exc.message, exc.exit_code, kind=exc.kind, as_json=as_json,
                         payload=exc.payload)
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            return _fail(f"interrupted by {name}; {atomic.left()}", 128 + signum,
                         kind="interrupted", as_json=as_json)
        except BrokenPipeError:
            # stdout went away (a pager quit): nothing more can be said there
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_INFRA
        except BaseException as exc:  # noqa: BLE001 - the contract is: never a traceback
            if isinstance(exc, SystemExit):
                raise
            where = save_traceback()
            atomic.cleanup()
            return _fail(f"internal error: {type(exc).__name__}: {exc} ({where})", EXIT_INFRA,
                         kind="internal", as_json=as_json)


if __name__ == "__main__":
    raise SystemExit(main())
