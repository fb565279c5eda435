"""``iamlogic simulate-custom-policy`` and ``simulate-principal-policy``: offline counterparts of
the AWS IAM policy simulator commands."""

from __future__ import annotations


def add_commands(sub) -> None:
    """Register the simulator commands on the CLI's sub-parsers."""
