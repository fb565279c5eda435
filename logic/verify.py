"""``iamlogic test`` and ``iamlogic verify``: policy tests and user invariants."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register the commands on the CLI's sub-parsers."""
