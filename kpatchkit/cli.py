"""The ``kpatchkit`` console script: a thin dispatcher over the stage packages.

Each subcommand lives in ``kpatchkit/<stage>/command.py`` with two functions:
``configure(parser)`` adds its arguments, ``run(args) -> int`` does the work and returns the
exit code. Those modules import their heavy dependencies inside ``run`` so that ``--help`` and
unrelated subcommands stay fast, and tests call ``run`` directly without a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

from kpatchkit import __version__
from kpatchkit.errors import EXIT_INFRA, EXIT_USAGE, Interrupted, KpatchkitError, save_traceback


# Each subcommand's module is imported when the parser is built: plain imports, kept in small
# functions so `kpatchkit fetch` does not load the analyzer's parser or Jinja2 first.
def _fetch() -> ModuleType:
    from kpatchkit.fetch import command
    return command


def _tree() -> ModuleType:
    from kpatchkit.trees import command
    return command


def _apply() -> ModuleType:
    from kpatchkit.apply import command
    return command


def _analyze() -> ModuleType:
    from kpatchkit.analyze import command
    return command


def _gen_tests() -> ModuleType:
    from kpatchkit.gentests import command
    return command


def _run() -> ModuleType:
    from kpatchkit.run import command
    return command


def _report() -> ModuleType:
    from kpatchkit.report import command
    return command


def _publish() -> ModuleType:
    from kpatchkit.report import publish_command
    return publish_command


def _review() -> ModuleType:
    from kpatchkit.review import command
    return command


# subcommand -> (its module, one-line help)
SUBCOMMANDS: dict[str, tuple[Callable[[], ModuleType], str]] = {
    "fetch": (_fetch, "read a patch or series from mail, mbox, archive or server"),
    "tree": (_tree, "add or list kernel trees under kernel_src/"),
    "apply": (_apply, "apply (and port) a series to a kernel tree"),
    "analyze": (_analyze, "locking/RCU analysis of the MMU sources"),
    "gen-tests": (_gen_tests, "render COW-write KVM selftests"),
    "run": (_run, "build base/patched kernels and run selftests in QEMU"),
    "report": (_report, "render a review's reports from its results"),
    "publish": (_publish, "publish an index of review runs"),
    "review": (_review, "the whole review: fetch to report"),
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
    for name, (load, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = load()
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
