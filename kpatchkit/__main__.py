"""Allow ``python -m kpatchkit``."""

from kpatchkit.cli import main

raise SystemExit(main())
