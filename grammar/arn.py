"""Amazon Resource Names as they appear in policies: parsing and checking, with precise messages.

An ARN is ``arn:partition:service:region:account-id:resource``; the resource part may itself
contain ``:`` and ``/``. In a policy, ``*`` and ``?`` may appear in every segment but the service
segment, and policy variables (``${aws:username}``) only in the resource part, after the fifth
colon. ``*`` alone is a resource *pattern* (every resource), not an ARN.

Sources: IAM User Guide, "IAM identifiers" / ARNs,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html ; "IAM JSON policy elements:
Resource", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
(no wildcard in the service segment); "IAM policy elements: Variables and tags",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html (variables only
in the resource part).

>>> parse_arn("arn:aws:s3:::my-bucket/*").resource
'my-bucket/*'
>>> parse_arn("arn:aws:s*:::b")
"the service segment 's*' contains a wildcard; wildcards are not allowed in the service segment of an ARN"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Arn", "PARTITIONS", "parse_arn", "resource_pattern_error", "variable_outside_resource"]

#: AWS partitions. The ARN page lists aws, aws-cn and aws-us-gov; the isolated and sovereign
#: partitions are those of the AWS SDK endpoint data (aws-iso, aws-iso-b, aws-iso-e, aws-iso-f,
#: aws-eusc).
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")

_VARIABLE = re.compile(r"\$\{[^}]*\}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9-]*")
_REGION = re.compile(r"[a-z0-9*?-]+")
_ACCOUNT_PATTERN = re.compile(r"[0-9*?]+")
_SEGMENTS = ("partition", "service", "region", "account", "resource")


@dataclass(frozen=True)
class Arn:
    """The five parts of an ARN after ``arn:``; any of them may hold ``*``/``?`` wildcards
    (but the service)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def _wildcard_match(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def variable_outside_resource(text: str) -> str | None:
    """A message when a policy variable stands before the resource part of an ARN, else None.

    Args:
        text: An ARN or ARN pattern as written in a policy.

    Returns:
        ``"policy variable '${aws:userid}' in the account segment; …"`` or None.
    """
    if not text.startswith("arn:") or "$" not in text:  # (every policy variable starts with "$")
        return None
    colons = [i for i, c in enumerate(text) if c == ":"]
    boundary = colons[4] if len(colons) > 4 else len(text)  # colons[0] ends "arn:"; [4] ends the account
    for m in _VARIABLE.finditer(text):
        if m.start() < boundary:
            segment = _SEGMENTS[sum(1 for i in colons[:5] if i < m.start()) - 1]
            return (f"policy variable '{m.group(0)}' in the {segment} segment; policy variables are allowed "
                    "only in the resource part of an ARN (after the fifth colon)")
    return None


def parse_arn(text: str) -> Arn | str:
    """Parse an ARN or ARN pattern.

    Args:
        text: ``arn:partition:service:region:account-id:resource``; wildcards allowed as in
            policies (not in the service segment).

    Returns:
        An :class:`Arn`, or a message saying precisely what is wrong.
    """
    if text == "*":
        return "'*' is a resource pattern meaning every resource, not an ARN"
    if not text.startswith("arn:"):
        if text[:4].lower() == "arn:":
            return f"'{text[:4]}' must be written in lowercase: an ARN starts with 'arn:'"
        return "an ARN starts with 'arn:' (arn:partition:service:region:account-id:resource)"
    variable = variable_outside_resource(text)
    if variable:
        return variable
    parts = text.split(":", 5)
    if len(parts) < 6:
        return (f"the ARN has {len(parts)} colon-separated segments, expected 6: "
                "arn:partition:service:region:account-id:resource")
    _, partition, service, region, account, resource = parts
    problem = (_partition_problem(partition) or _service_problem(service) or _region_problem(region)
               or _account_problem(account))
    if problem:
        return problem
    if resource == "":
        return "the resource part (after the fifth colon) is empty"
    return Arn(partition, service, region, account, resource)


def resource_pattern_error(text: str) -> str | None:
    """What is wrong with a ``Resource``/``NotResource`` value, or None when it is fine.

    ``*`` alone is fine; anything else must be a valid ARN pattern.
    """
    if text == "*":
        return None
    parsed = parse_arn(text)
    return parsed if isinstance(parsed, str) else None


def _partition_problem(partition: str) -> str | None:
    if partition == "":
        return "the partition segment is empty; expected one of " + ", ".join(PARTITIONS)
    if partition in PARTITIONS:
        return None
    if ("*" in partition or "?" in partition) and any(_wildcard_match(partition, p) for p in PARTITIONS):
        return None
    if partition.lower() in PARTITIONS:
        return f"the partition '{partition}' must be lowercase ('{partition.lower()}')"
    return f"unknown partition '{partition}'; expected one of " + ", ".join(PARTITIONS)


def _service_problem(service: str) -> str | None:
    if service == "":
        return "the service segment is empty; it must name a service prefix such as 's3' or 'iam'"
    if "*" in service or "?" in service:
        return (f"the service segment '{service}' contains a wildcard; wildcards are not allowed in the "
                "service segment of an ARN")
    if not _SERVICE.fullmatch(service):
        if _SERVICE.fullmatch(service.lower()):
            return f"the service segment '{service}' must be lowercase ('{service.lower()}')"
        return f"the service segment '{service}' is not a service prefix (lowercase letters, digits, '-')"
    return None


def _region_problem(region: str) -> str | None:
    if region == "" or _REGION.fullmatch(region):
        return None
    if _REGION.fullmatch(region.lower()):
        return f"the region segment '{region}' must be lowercase ('{region.lower()}')"
    return f"the region segment '{region}' is not a region name such as 'us-east-1' (or empty, or a wildcard)"


def _account_problem(account: str) -> str | None:
    if account in ("", "aws"):
        return None
    if _ACCOUNT_PATTERN.fullmatch(account):
        if "*" in account:
            return None
        if len(account) == 12:
            return None
        return f"the account segment '{account}' has {len(account)} characters; an account ID has 12 digits"
    return (f"the account segment '{account}' must be a 12-digit account ID, empty, 'aws' "
            "(AWS managed policies) or a wildcard pattern of digits, '*' and '?'")
