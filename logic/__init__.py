"""iamlogic: AWS access questions answered by logic.

Policies (AWS JSON documents and the ``.iaml`` world language) and organization structure are
compiled into Datalog facts; the AWS evaluation logic is a set of Datalog rules.

>>> import iamlogic
>>> p = iamlogic.parse_policy({"Version": "2012-10-17",
...     "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}})
>>> p.statements[0].action
('s3:GetObject',)
"""

from __future__ import annotations

from .grammar.ast import Policy
from .grammar.diagnostics import Diagnostic, IamlogicError, InvalidInput, Span
from .world import World, load, loads

__all__ = [
    "Diagnostic",
    "IamlogicError",
    "InvalidInput",
    "Policy",
    "Span",
    "World",
    "load",
    "loads",
    "parse_policy",
    "validate_policy",
]

__version__ = "0.1.0"


def parse_policy(document: str | dict, kind: str | None = None, *, file: str = "<input>") -> Policy:
    """Parse an AWS JSON policy document (text or a dict).

    Args:
        document: the policy as JSON text or as a JSON-shaped dict.
        kind: when given (``identity``, ``scp``, ``trust``, …), also validate it as that kind.
        file: the name used in diagnostics.

    Raises:
        InvalidInput: with every error found. Warnings do not raise.
    """
    from .world import as_policy

    policy = as_policy(document if isinstance(document, (str, dict)) else dict(document), file)
    if kind is not None:
        errors = [d for d in validate_policy(policy, kind) if d.is_error]
        if errors:
            raise InvalidInput(errors)
    return policy


def validate_policy(policy: Policy, kind: str) -> list[Diagnostic]:
    """Every error and warning of a policy used as ``kind``."""
    from .validate import validate_policy as _validate

    return _validate(policy, kind)
