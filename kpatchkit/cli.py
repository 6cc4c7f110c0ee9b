"""The ``kpatchkit`` console script: a thin dispatcher over the stage packages.

Each subcommand lives in ``kpatchkit/<stage>/command.py`` with two functions:
``configure(parser)`` adds its arguments, ``run(args) -> int`` does the work and returns the
exit code. Those modules import their heavy dependencies inside ``run`` so that ``--help`` and
unrelated subcommands stay fast, and tests call ``run`` directly without a subprocess.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from kpatchkit import __version__
from kpatchkit.errors import EXIT_INFRA, EXIT_USAGE, KpatchkitError

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


def _fail(message: str, code: int) -> int:
    # Exactly one line, always starting the same way, so CI logs can grep it.
    text = " ".join(str(message).split()) or "unknown error"
    print(f"kpatchkit: error: {text}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map every failure to an exit code without a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "_unavailable", None):
            raise KpatchkitError(f"'{args._unavailable}' is not available in this build")
        if not getattr(args, "_run", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args._run(args) or 0)
    except KpatchkitError as exc:
        if exc.payload and "--json" in argv:
            from kpatchkit.console import emit_json

            emit_json({"error": exc.message, **exc.payload})
        return _fail(exc.message, exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing of yours was changed", 130)
    except BrokenPipeError:
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the contract is: never a traceback
        from kpatchkit.cache import cache_dir

        log = cache_dir("logs") / "last-internal-error.txt"
        log.write_text(traceback.format_exc())
        return _fail(f"internal error: {type(exc).__name__}: {exc} (traceback in {log})",
                     EXIT_INFRA)


if __name__ == "__main__":
    raise SystemExit(main())
