"""One error taxonomy, mapped to kpatchkit's documented exit codes.

| class          | kind             | exit | whose fault                                         |
|----------------|------------------|------|-----------------------------------------------------|
| UserError      | "user"           | 2    | the input or the command line (also a limit breached) |
| PatchError     | "patch"          | 1    | the patch: it has findings or does not build        |
| InfraError     | "infrastructure" | 3    | tools, disk, network, servers, QEMU, the cache      |
| InternalError  | "internal"       | 3    | a bug in kpatchkit (the traceback goes to a log)    |

They are siblings under ``KpatchkitError``, the base every expected failure shares (message,
payload, kind, exit code), so ``except KpatchkitError`` still means "a failure kpatchkit can
explain". ``KpatchkitError`` raised as such is a user error (exit 2), as it always was; new code
raises the sibling that says whose fault it is. Python's own exceptions that reach the CLI are
bugs: ``kpatchkit.cli`` turns them into an ``InternalError`` report.
"""

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INFRA = 3


class KpatchkitError(Exception):
    """A failure kpatchkit can explain; raised as such: bad input or usage (exit 2)."""

    exit_code = EXIT_USAGE

    @property
    def kind(self) -> str:
        """user, patch or infrastructure, from the exit code (subclasses may name their own)."""
        return {EXIT_FINDINGS: "patch", EXIT_INFRA: "infrastructure"}.get(self.exit_code, "user")

    def __init__(self, message: str, *, payload: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Optional JSON object still printed under --json so machines see the reason too.
        self.payload = payload or {}


class UserError(KpatchkitError):
    """Bad input or usage: the message says what was wrong and what to do (exit 2)."""


class PatchError(KpatchkitError):
    """The patch has findings or failures, or is obsolete (exit 1)."""

    exit_code = EXIT_FINDINGS


class InfraError(KpatchkitError):
    """The toolchain, disk, network, a server, QEMU or a guest failed us, not the patch
    (exit 3)."""

    exit_code = EXIT_INFRA


class InternalError(KpatchkitError):
    """A bug in kpatchkit (exit 3): the message names the log file holding the traceback."""

    exit_code = EXIT_INFRA
    kind = "internal"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (the CLI's handler raises it). A ``KeyboardInterrupt``, so
    ``except Exception`` never swallows it and cleanup written for Ctrl-C runs for SIGTERM too;
    the CLI exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, signum: int) -> None:
        import signal

        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"interrupted by {name}")
        self.signum = signum
        self.exit_code = 128 + signum


def error_kind(exc: BaseException) -> str:
    """The taxonomy's name for ``exc`` (``internal`` for anything kpatchkit did not expect)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return exc.kind if isinstance(exc, KpatchkitError) else "internal"


def save_traceback() -> str:
    """Write the current exception's traceback to a log file; say where (or why not)."""
    import os
    import tempfile
    import time
    import traceback

    text = traceback.format_exc()
    name = f"internal-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        from kpatchkit.cache import cache_dir

        log = cache_dir("logs") / name
        log.write_text(text)
        return f"traceback in {log}"
    except Exception as exc:  # noqa: BLE001 - no writable cache: try the temp directory
        first = exc
    try:
        fd, path = tempfile.mkstemp(prefix="kpatchkit-", suffix="-" + name)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return f"traceback in {path} (the cache could not take it: {first})"
    except Exception as exc:  # noqa: BLE001
        return f"the traceback could not be saved: {first}; {exc}"
