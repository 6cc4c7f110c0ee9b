"""Exceptions that map to kpatchkit's documented exit codes.

0 clean; 1 the patch introduces findings/failures or is obsolete; 2 bad input or usage;
3 infrastructure failure (toolchain, QEMU, no boot).
"""

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INFRA = 3


class KpatchkitError(Exception):
    """Bad input or usage: the message says what was wrong and what to do (exit 2)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, payload: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Optional JSON object still printed under --json so machines see the reason too.
        self.payload = payload or {}


class InfraError(KpatchkitError):
    """The toolchain, QEMU or a guest failed us, not the patch (exit 3)."""

    exit_code = EXIT_INFRA
