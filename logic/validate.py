"""Kind-aware validation of a parsed policy: what the place a policy is used allows, and what the
AWS catalog knows.

The structure of a document (elements, types, operators) is checked when it is read
(``iamlogic.grammar.json_policy``, codes ``E1xx``/``W1xx``). This module checks a well-formed
:class:`~iamlogic.grammar.ast.Policy` used as one of the kinds of ``ast.POLICY_KINDS`` and reports
``E2xx`` errors (AWS would reject the policy, or we cannot honour it) and ``W2xx`` warnings (AWS
accepts it but it probably does not mean what the author thinks). Each rule cites its AWS page:

- Principal: identity-based policies (and boundaries, session policies) cannot name one;
  resource-based policies must — IAM User Guide, reference_policies_elements_principal.html.
  SCPs do not support Principal/NotPrincipal — Organizations, orgs_manage_policies_scps_syntax.html.
- NotPrincipal: not in role trust policies; discouraged with Allow —
  reference_policies_elements_notprincipal.html.
- Role trust policies cannot contain Resource ("Has prohibited field Resource") and do not need it.
- RCPs: Principal must be "*", Allow only in RCPFullAWSAccess, no NotAction/NotPrincipal, no bare
  ``*`` action in customer RCPs, Version 2012-10-17 —
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_syntax.html
- KMS key policies: "In a key policy, the value of the Resource element is "*"" —
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
- ARNs and policy variables: see ``iamlogic.grammar.arn``; variables only in String*/Arn* condition
  values — reference_policies_variables.html (the operators page once also allowed Bool; we follow
  the variables page).
- Condition value types, wildcards without a Like operator, set qualifiers on single-valued keys:
  the IAM Access Analyzer policy checks of the same names —
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html

>>> from iamlogic.grammar.json_policy import parse_policy_text
>>> policy, _ = parse_policy_text('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", '
...     '"Principal": {"AWS": "111122223333"}, "Action": "s3:GetObject", "Resource": "*"}}')
>>> [d.code for d in validate_policy(policy, "scp")]
['E205']
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Collection

from .catalog import RCP_INEFFECTIVE_ACTIONS, RCP_SERVICES, Catalog
from .grammar.arn import parse_arn, resource_pattern_error, variable_outside_resource
from .grammar.ast import POLICY_KINDS, Condition, Policy, Principal, Statement
from .grammar.diagnostics import Diagnostic, Diagnostics, Span
from .matching import parse_date, wildcard_match

__all__ = ["OPERATOR_FAMILIES", "validate_policy"]

#: Base condition operator → its family (aws-semantics §2.1).
OPERATOR_FAMILIES: dict[str, str] = {
    **{op: "String" for op in ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
                               "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")},
    **{op: "Numeric" for op in ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                                "NumericGreaterThan", "NumericGreaterThanEquals")},
    **{op: "Date" for op in ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
                             "DateGreaterThan", "DateGreaterThanEquals")},
    "Bool": "Bool",
    "BinaryEquals": "Binary",
    "IpAddress": "IP",
    "NotIpAddress": "IP",
    **{op: "Arn" for op in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")},
    "Null": "Null",
}

#: The actions a role's trust policy governs (rules/20-policies.dl, trust_action).
_TRUST_ACTIONS = ("sts:AssumeRole*", "sts:TagSession", "sts:SetSourceIdentity")
#: The kinds of policy IAM stores or STS takes, whose Sid may hold only ASCII letters and digits
#: (IAM user guide, reference_policies_elements_sid).
_IAM_KINDS = frozenset({"identity", "boundary", "trust", "session"})
#: AWS's size limits of policy documents, in characters without whitespace (IAM user guide,
#: reference_iam-quotas; AWS Organizations user guide, orgs_reference_limits), with what they mean.
_SIZE_LIMITS = {
    "identity": (6144, " (a managed policy's limit; inline policies share smaller limits per user, group or role)"),
    "boundary": (6144, ""),
    "trust": (2048, " (the default quota, which can be raised)"),
    "session": (2048, ""),
    "scp": (5120, ""),
    "rcp": (5120, ""),
}

_KIND_NAMES = {
    "identity": "identity-based policies", "resource": "resource-based policies",
    "boundary": "permissions boundaries", "session": "session policies", "scp": "service control policies",
    "rcp": "resource control policies", "trust": "role trust policies", "key": "KMS key policies",
}
_NO_PRINCIPAL = ("identity", "boundary", "session")
_NEEDS_PRINCIPAL = ("resource", "trust", "key", "rcp")
_NEEDS_RESOURCE = ("identity", "boundary", "session", "scp", "rcp", "resource", "key")
_EQUALS_OPERATORS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase")

_VARIABLE = re.compile(r"\$\{[^}]*\}")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# W3C profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime), or an epoch number of seconds.
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                   r"(Z|[+-][0-9]{2}:[0-9]{2}))?)?)?|[0-9]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_UNIQUE_ID = re.compile(r"A(IDA|ROA)[A-Z0-9]{12,}")  # IAM user / role unique IDs left after a deletion
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?")
_CANONICAL_USER = re.compile(r"[0-9a-f]{64}")


def validate_policy(policy: Policy, kind: str, *, catalog: Catalog | None = None,
                    rcp_services: Collection[str] | None = None) -> list[Diagnostic]:
    """Every error and warning of ``policy`` used as a policy of kind ``kind``.

    Args:
        policy: A structurally valid policy (from ``parse_policy_text`` or the world language).
        kind: One of ``identity``, ``resource``, ``boundary``, ``session``, ``scp``, ``rcp``,
            ``trust``, ``key``.
        catalog: The action/condition-key catalog; the bundled one by default.
        rcp_services: The service prefixes (lower case) whose resources RCPs restrict; by default
            the list iamlogic ships (``catalog.RCP_SERVICES``).

    Returns:
        The diagnostics (``E2xx``/``W2xx``), in statement order.
    """
    diags = Diagnostics()
    if kind not in POLICY_KINDS:
        diags.add("E200", f"unknown policy kind '{kind}'", policy.span,
                  "kinds are: " + ", ".join(POLICY_KINDS))
        return diags.items
    services = frozenset(rcp_services if rcp_services is not None else (p for p, _ in RCP_SERVICES))
    _Validator(policy, kind, catalog or Catalog.default(), diags, services).run()
    return diags.items


class _Validator:
    """One validation run: walks the statements of one policy and adds to ``diags``."""

    def __init__(self, policy: Policy, kind: str, catalog: Catalog, diags: Diagnostics,
                 rcp_services: frozenset[str]):
        self.policy = policy
        self.kind = kind
        self.catalog = catalog
        self.diags = diags
        self.rcp_services = rcp_services
        self.variables = policy.version == "2012-10-17"  # other versions read ${…} as text

    def run(self) -> None:
        self.size()
        if self.kind == "rcp" and self.policy.version != "2012-10-17":
            self.diags.add("E223", f"an RCP must have \"Version\": \"2012-10-17\", not "
                                   f"{'none' if self.policy.version is None else repr(self.policy.version)}",
                           self.policy.span)
        for stmt in self.policy.statements:
            self.statement(stmt)

    def size(self) -> None:
        """W231: a document longer than AWS takes for its kind (characters without whitespace)."""
        limit = _SIZE_LIMITS.get(self.kind)
        if limit is None:
            return
        import json

        from .grammar.json_policy import policy_to_json

        n = len(json.dumps(policy_to_json(self.policy), separators=(",", ":"), ensure_ascii=False))
        if n > limit[0]:
            self.diags.add("W231", f"the policy is {n:,} characters without whitespace; AWS takes at most {limit[0]:,} "
                                   f"for {_KIND_NAMES[self.kind]}{limit[1]}", self.policy.span,
                           "split it into several policies")

    def statement(self, s: Statement) -> None:
        span = s.span or self.policy.span
        if s.sid is not None and self.kind in _IAM_KINDS and not re.fullmatch(r"[A-Za-z0-9]*", s.sid):
            self.diags.add("E230", f"Sid {s.sid!r} of an IAM policy may hold only letters and digits", span,
                           "IAM refuses the policy: MalformedPolicyDocument")
        self.principals(s, span)
        self.resources(s, span)
        services = self.actions(s, span)
        literal_variable = False
        for c in s.conditions:
            literal_variable |= self.condition(c, services, span)
        literal_variable |= any(_VARIABLE.search(r) for r in (s.resource or ()) + (s.not_resource or ()))
        if literal_variable and not self.variables:
            version = "missing" if self.policy.version is None else f"\"{self.policy.version}\""
            self.diags.add("W227", f"policy variables in this statement are literal text: the policy Version is "
                                   f"{version}", span, "use \"Version\": \"2012-10-17\" for ${…} to be replaced")
        if s.effect == "Allow" and s.not_action is not None and self.kind != "rcp":
            self.diags.add("W214", "Allow with NotAction allows every action not listed, in every service", span,
                           "list the allowed actions in Action instead")
        if s.effect == "Allow" and s.not_resource is not None and self.kind != "trust":
            self.diags.add("W215", "Allow with NotResource allows the actions on every resource not listed", span,
                           "list the allowed resources in Resource instead")
        if self.kind == "rcp":
            self.rcp(s, span)

    # -- Principal / NotPrincipal

    def principals(self, s: Statement, span: Span | None) -> None:
        named = [("Principal", s.principal), ("NotPrincipal", s.not_principal)]
        present = [(name, ps) for name, ps in named if ps is not None]
        where = _KIND_NAMES[self.kind]
        if self.kind in _NO_PRINCIPAL:
            for name, ps in present:
                self.diags.add("E204", f"{name} is not allowed in {where}", _first_span(ps, span),
                               "an identity-based policy applies to the identity it is attached to; remove "
                               f"{name}")
            return
        if self.kind == "scp":
            for name, ps in present:
                self.diags.add("E205", f"{name} is not allowed in service control policies", _first_span(ps, span),
                               "restrict principals with a condition such as aws:PrincipalArn instead")
            return
        if self.kind in _NEEDS_PRINCIPAL and s.principal is None and (s.not_principal is None or self.kind == "rcp"):
            self.diags.add("E206", f"{where} must name a Principal in each statement", span,
                           "add \"Principal\": \"*\"" if self.kind == "rcp" else
                           "add a Principal, e.g. {\"AWS\": \"arn:aws:iam::111122223333:root\"}")
        if s.not_principal is not None:
            if self.kind == "trust":
                self.diags.add("E209", "NotPrincipal is not allowed in role trust policies",
                               _first_span(s.not_principal, span), "name the trusted principals in Principal")
            elif self.kind == "rcp":
                self.diags.add("E220", "NotPrincipal is not supported in resource control policies",
                               _first_span(s.not_principal, span), "use \"Principal\": \"*\" and a condition")
            elif s.effect == "Allow":
                self.diags.add("W208", "NotPrincipal with Allow allows every principal not listed, including "
                                       "anonymous users", _first_span(s.not_principal, span),
                               "name the allowed principals in Principal instead")
        if self.kind == "rcp":
            for p in s.principal or ():
                if not (p.type == "AWS" and p.value == "*"):
                    self.diags.add("E217", f"an RCP Principal must be \"*\", not {p.type} \"{p.value}\"",
                                   p.span or span, "restrict principals with conditions such as aws:PrincipalOrgID")
            return
        for p in (s.principal or ()) + (s.not_principal or ()):
            self.principal_value(p, span)

    def principal_value(self, p: Principal, span: Span | None) -> None:
        at = p.span or span
        v = p.value
        if "${" in v:
            self.diags.add("E225", f"policy variable in principal \"{v}\"", at,
                           "policy variables are not allowed in Principal; use a condition on aws:PrincipalArn")
            return
        if p.type == "AWS":
            if v == "*" or _ACCOUNT_ID.fullmatch(v) or _UNIQUE_ID.fullmatch(v):
                return
            if not v.startswith("arn:"):
                self.diags.add("E225", f"malformed AWS principal \"{v}\"", at,
                               "an AWS principal is \"*\", a 12-digit account ID or an IAM/STS ARN")
                return
            if "*" in v or "?" in v:
                self.diags.add("E225", f"wildcard in principal ARN \"{v}\"", at,
                               "principal ARNs cannot contain wildcards; use \"Principal\": \"*\" with an "
                               "ArnLike condition on aws:PrincipalArn")
                return
            arn = parse_arn(v)
            if isinstance(arn, str):
                self.diags.add("E225", f"malformed principal ARN \"{v}\": {arn}", at)
            elif arn.service not in ("iam", "sts"):
                self.diags.add("E225", f"principal ARN \"{v}\" names service '{arn.service}'", at,
                               "an AWS principal ARN is an IAM (user, role, root) or STS (session) ARN")
            elif arn.service == "iam" and arn.resource.split("/", 1)[0] in ("group", "policy", "instance-profile"):
                # "You cannot identify a user group as a principal in a policy" (IAM user guide,
                # reference_policies_elements_principal); AWS refuses the policy
                self.diags.add("E225", f"principal ARN \"{v}\" names an IAM {arn.resource.split('/', 1)[0]}, which is "
                                       "not a principal", at,
                               "name the users (or the account and a condition on aws:PrincipalArn) instead")
        elif p.type == "Service":
            if not _SERVICE_PRINCIPAL.fullmatch(v):
                self.diags.add("W226", f"\"{v}\" does not look like an AWS service principal", at,
                               "service principals are written like \"ec2.amazonaws.com\"")
        elif p.type == "Federated":
            if v.startswith("arn:"):
                arn = parse_arn(v)
                if isinstance(arn, str):
                    self.diags.add("E225", f"malformed federated principal ARN \"{v}\": {arn}", at)
        elif p.type == "CanonicalUser" and not _CANONICAL_USER.fullmatch(v):
            self.diags.add("E225", f"malformed canonical user ID \"{v}\"", at,
                           "an S3 canonical user ID is 64 lowercase hexadecimal digits")

    # -- Resource / NotResource

    def resources(self, s: Statement, span: Span | None) -> None:
        if self.kind == "trust":
            for name, values in (("Resource", s.resource), ("NotResource", s.not_resource)):
                if values is not None:
                    self.diags.add("E221", f"{name} is not allowed in role trust policies", span,
                                   "the resource of a trust policy is the role itself; remove the element")
            return
        if self.kind in _NEEDS_RESOURCE and s.resource is None and s.not_resource is None:
            self.diags.add("E207", f"{_KIND_NAMES[self.kind]} need a Resource (or NotResource) in each statement",
                           span, "add \"Resource\": \"*\" or the ARNs the statement is about")
        where = dict(s.value_spans)
        for name, values in (("Resource", s.resource), ("NotResource", s.not_resource)):
            for value in values or ():
                at = where.get((name, value), span)
                problem = variable_outside_resource(value)
                if problem:
                    self.diags.add("E202", f"{name} \"{value}\": {problem}", at)
                    continue
                problem = resource_pattern_error(value)
                if problem:
                    self.diags.add("E201", f"malformed ARN in {name} \"{value}\": {problem}", at)
                    continue
                if self.variables:
                    self.variable_keys(value, at)
                if self.kind == "key" and value != "*":
                    self.diags.add("W228", f"{name} \"{value}\" in a key policy", at,
                                   "in a key policy, Resource is \"*\": it means the key the policy is attached to")

    # -- Action / NotAction

    def actions(self, s: Statement, span: Span | None) -> set[str] | None:
        """Check action names; return the services the statement is about (None: any service)."""
        services: set[str] | None = set()
        if s.not_action is not None:
            services = None
        where = dict(s.value_spans)
        for element, patterns in (("Action", s.action or ()), ("NotAction", s.not_action or ())):
            for pattern in patterns:
                if pattern == "*":
                    services = None
                    continue
                at = where.get((element, pattern), span)
                prefix = pattern.partition(":")[0]
                if "*" not in prefix and "?" not in prefix and not self.catalog.has_service(prefix):
                    self.diags.add("W210", f"unknown service prefix '{prefix}' in action '{pattern}'", at,
                                   self.catalog.suggest_action(pattern))
                    continue
                matched = self.catalog.expand(pattern)
                if not matched:
                    what = "matches no known action" if ("*" in pattern or "?" in pattern) else "is not a known action"
                    self.diags.add("W211", f"action '{pattern}' {what}", at, self.catalog.suggest_action(pattern))
                    continue
                if self.kind == "trust" and element == "Action" and not any(
                        wildcard_match(t, name, ignore_case=True) for name in matched
                        for t in _TRUST_ACTIONS + ("sts:SetContext",)):
                    self.diags.add("W232", f"action '{pattern}' never applies in a role trust policy, which governs "
                                           f"only {', '.join(_TRUST_ACTIONS)}", at,
                                   "grant it in an identity-based policy")
                if services is not None:
                    services.update(name.partition(":")[0].lower() for name in matched)
        return services

    # -- Condition

    def condition(self, c: Condition, services: set[str] | None, span: Span | None) -> bool:
        """Check one condition; return whether a value holds variable syntax read as literal text."""
        at = c.span or span
        family = OPERATOR_FAMILIES.get(c.base)
        info = self.catalog.condition_key(c.key)
        if info is None:
            self.diags.add("W212", f"unknown condition key '{c.key}'", at, self.catalog.suggest_condition_key(c.key))
        else:
            if not info.is_global and services and not services & set(info.services):
                owners = ", ".join(sorted(set(info.services)))
                self.diags.add("W212", f"condition key '{c.key}' is not defined for the statement's services "
                                       f"({', '.join(sorted(services))})", at,
                               f"'{info.template}' belongs to {owners}")
            if c.base != "Null":
                if c.qualifier and not info.multivalued:
                    self.diags.add("W213", f"{c.qualifier} on single-valued key '{c.key}'", at,
                                   f"use '{c.operator.partition(':')[2]}': a set operator on a single-valued key "
                                   "can be overly permissive")
                elif not c.qualifier and info.multivalued:
                    self.diags.add("W224", f"'{c.operator}' on multivalued key '{c.key}' without ForAllValues or "
                                           "ForAnyValue", at,
                                   f"write 'ForAnyValue:{c.operator}' or 'ForAllValues:{c.operator}'; a plain "
                                   "operator does not match a key that has several values")
        literal = False
        for value in c.values:
            if _VARIABLE.search(value):
                if not self.variables:
                    literal = True
                elif family not in ("String", "Arn"):
                    self.diags.add("E203", f"policy variable in '{value}' under '{c.operator}'", at,
                                   "policy variables work only with String and Arn operators")
                    continue
            if self.variables and family in ("String", "Arn"):
                self.variable_keys(value, at)
            problem = None if self.variables and _VARIABLE.search(value) else _value_problem(family, value)
            if problem:
                self.diags.add("W218", f"'{c.operator}' value '{value}' for '{c.key}' {problem}", at)
            if c.base in _EQUALS_OPERATORS and "*" in _VARIABLE.sub("", value):
                like = c.base.replace("Equals", "Like").replace("IgnoreCase", "")
                self.diags.add("W219", f"'*' in '{value}' under '{c.operator}' is a literal asterisk", at,
                               f"use '{like}' to match a pattern")
        return literal

    def variable_keys(self, value: str, at: Span | None) -> None:
        """W212: a policy variable whose key the AWS catalog does not know (a typo: it never has a
        value, so what it stands in matches nothing). W233: '${' without its '}' (text)."""
        for m in _VARIABLE.finditer(value):
            key = m.group(0)[2:-1].split(",", 1)[0].strip()
            if key not in ("*", "?", "$") and self.catalog.condition_key(key) is None:
                self.diags.add("W212", f"policy variable '{m.group(0)}' names an unknown condition key '{key}': it "
                                       "never has a value", at, self.catalog.suggest_condition_key(key))
        if "${" in _VARIABLE.sub("", value):
            self.diags.add("W233", f"'${{' without a closing '}}' in '{value}' is literal text, not a policy variable",
                           at, "close the variable: ${aws:username}")

    # -- RCP

    def rcp(self, s: Statement, span: Span | None) -> None:
        if s.not_action is not None:
            self.diags.add("E220", "NotAction is not supported in resource control policies", span,
                           "list the actions in Action")
        if s.effect == "Allow":
            full = (s.action == ("*",) and s.resource == ("*",) and not s.conditions
                    and s.principal in (None, (Principal("AWS", "*"),)))
            if not full:
                self.diags.add("E216", "an RCP can only Allow everything (the RCPFullAWSAccess statement)", span,
                               "write Deny statements; RCPFullAWSAccess is "
                               "{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"*\", \"Resource\": \"*\"}")
        elif "*" in (s.action or ()):
            self.diags.add("E222", "a customer-managed RCP cannot use Action \"*\"", span,
                           "name the services, e.g. \"s3:*\"")
        else:
            where = dict(s.value_spans)
            for pattern in s.action or ():
                self._rcp_action(pattern, where.get(("Action", pattern), span))

    def _rcp_action(self, pattern: str, span: Span | None) -> None:
        """W229: an Action entry of an RCP that can name no action an RCP restricts (AWS Organizations
        guide, "List of AWS services that support RCPs"; AWS KMS guide, resource-control-policies)."""
        prefix = pattern.partition(":")[0]
        if "*" not in prefix and "?" not in prefix and prefix.lower() not in self.rcp_services:
            self.diags.add("W229", f"RCPs do not restrict the resources of '{prefix}': '{pattern}' denies nothing",
                           span, "RCPs restrict: " + ", ".join(sorted(self.rcp_services)) + " (declare "
                           "'aws rcp_services' in the world if AWS lists more services today)")
        elif any(pattern.lower() == a.lower() for a in RCP_INEFFECTIVE_ACTIONS):
            self.diags.add("W229", f"'{pattern}' is not effective in an RCP: it denies nothing", span)


def _first_span(principals: tuple[Principal, ...], default: Span | None) -> Span | None:
    return next((p.span for p in principals if p.span is not None), default)


def _value_problem(family: str | None, value: str) -> str | None:
    """Why a condition value does not fit its operator family, or None."""
    if family == "Numeric" and not _NUMBER.fullmatch(value):
        return "is not a number"
    if family == "Date" and (not _DATE.fullmatch(value) or parse_date(value) is None):
        return "is not an ISO 8601 date (2024-01-31T12:00:00Z) or epoch seconds"
    if family in ("Bool", "Null") and value.lower() not in ("true", "false"):
        return "is not \"true\" or \"false\""
    if family == "IP":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return "is not an IP address or CIDR block"
    if family == "Binary":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "is not base64"
    if family == "Arn" and value != "*" and not value.startswith("arn:"):
        return "is not an ARN"
    return None
