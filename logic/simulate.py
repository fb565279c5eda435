"""``iamlogic simulate-custom-policy`` and ``simulate-principal-policy``: offline counterparts of
the AWS IAM policy simulator commands.

Both print what the AWS API returns (``{"EvaluationResults": [...]}``) and exit 0 when every
result is ``allowed``, 2 when any is denied, 3 on invalid input or an option combination that
cannot be expressed (``unsupported: …``, code ``E510``; a malformed option value is ``E511``).

``simulate-custom-policy`` translates its options into a :class:`~iamlogic.World` with the builder
API, then decides every (action, resource) pair with :meth:`World.check_many`:

* the caller (``--caller-arn``) is an IAM user, an IAM role (evaluated as a session of it), a role
  session ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``, a federated user
  ``arn:aws:sts::ACCT:federated-user/NAME`` (with ``--federating-user-arn``), an account root
  ``arn:aws:iam::ACCT:root``, a service principal (``events.amazonaws.com``) or ``anonymous``.
  AWS accepts only IAM users here (API_SimulateCustomPolicy, CallerArn: "You can specify only
  the ARN of an IAM user"); the other forms are iamlogic extensions.
* ``--policy-input-list`` documents become inline policies of the caller (of the federating user
  for a federated user); ``--permissions-boundary-policy-input-list`` (one document, as in AWS:
  "You can input only one permissions boundary") a managed policy set as its boundary.
* each ``--resource-arns`` entry is declared in its owner's account with ``--resource-policy``
  and ``--resource-tags``. The owner is the account the ARN names; for an ARN without an account
  (S3) it is ``--resource-owner``, else the caller's account — API_SimulateCustomPolicy,
  ResourceOwner: "specifies the owner of any simulated resource that does not identify its owner
  in the resource ARN … If the ResourceOwner parameter is not specified, then the owner of the
  resources and the resource policy defaults to the account of the identity provided in
  CallerArn."
* as in AWS, ``--resource-policy`` needs ``--caller-arn`` (CallerArn "is required if you include
  a ResourcePolicy so that the policy's Principal element has a value to use"). The resource
  policy of an IAM role ARN is its trust policy: the role is declared with it, so ``sts:AssumeRole``
  needs its explicit allow. ``--policy-input-list`` is optional (a root, service or anonymous
  caller has no identity-based policies).
* without ``--caller-arn`` the caller is an IAM user: ``aws:PrincipalArn`` from
  ``--context-entries`` if given, else ``user/<aws:username>`` if given, else
  ``user/simulated-caller``; its account is ``aws:PrincipalAccount`` (context), else
  ``--resource-owner``, else the one account the resource ARNs name, else ``123456789012`` (the
  account of the AWS documentation examples). AWS does not document the caller it simulates
  then; this keeps requests on resources of the named account same-account, as the AWS simulator
  evaluates them. Policy variables such as ``${aws:username}`` resolve to that default name.
* organizations: ``--scp-levels``/``--rcp-levels`` are JSON arrays of levels, root first and the
  account's own attachments last, each an array of policy documents. The caller's account sits
  under exactly that chain with FullAWSAccess detached everywhere, so an empty SCP level denies
  everything (aws-semantics §3.1). RCPFullAWSAccess cannot be detached (§1.7) and stays attached
  at every level. ``--caller-org-id``/``--resource-org-id`` name the organizations (default
  ``o-iamlogicsim``); with ``--rcp-levels`` and no ``--resource-org-id`` a resource account joins
  the caller's organization. The management account of each organization is a placeholder
  account unless ``--management-account``/``--resource-management-account`` say otherwise.

Output, following API_EvaluationResult, API_ResourceSpecificResult and API_Statement:

* one EvaluationResult per action; when resource ARNs are given, ResourceSpecificResults holds
  one result per resource and the top-level fields are the aggregate: EvalDecision is the most
  restrictive decision (API_EvaluationResult: "The top-level EvalDecision reflects the most
  restrictive decision across all resources"; aws-semantics §3.22), MatchedStatements those of
  the resources with that decision, MissingContextValues the union, and EvalResourceName the
  first resource with that decision (AWS does not document it; iamlogic's choice).
* EvalDecisionDetails: per policy type, only for cross-account simulations; ``{}`` for a
  same-account simulation with resource ARNs; absent for ``*`` (API_EvaluationResult).
  Keys: ``IAM Policy``, ``Resource Policy``, ``Permissions Boundary Policy`` and the iamlogic
  extensions ``SCP``, ``RCP``, ``Session Policy``.
* MatchedStatements: SourcePolicyId is ``PolicyInputList.N`` as in AWS,
  ``PermissionsBoundaryPolicyInputList.1``, ``ResourcePolicy``, ``SessionPolicy``,
  ``ScpLevels.L.N``, ``RcpLevels.L.N``; for ``simulate-principal-policy`` the policy's name in
  the world. SourcePolicyType is the spelling the live API returns (``IAM Policy``,
  ``Resource Policy``, ``Permissions Boundary Policy``; API_Statement documents the enum
  ``user | group | role | aws-managed | user-managed | resource | none``, which responses seen
  in practice do not use) and the extensions ``SCP``, ``RCP``, ``Session Policy``. StartPosition
  is the line and column of the statement's ``{``; EndPosition the position just after its
  ``}``. (The AWS CLI reference example of simulate-custom-policy reports its one-line statement
  from column 38 to 167; iamlogic reports 37, the ``{`` itself, to 167: AWS documents no rule
  for the start.) Both are omitted for documents given as JSON objects inside ``--scp-levels`` or
  ``--rcp-levels`` (they have no text of their own). Extensions: ``Sid``, and ``SourceFile``
  when the document was read from a file. The implicit FullAWSAccess/RCPFullAWSAccess
  statements are not listed.
* OrganizationsDecisionDetail.AllowedByOrganizations (SCPs) when the caller's account is in an
  organization; PermissionsBoundaryDecisionDetail when a boundary applies; the extension
  ResourceControlPolicyDecisionDetail.AllowedByResourceControlPolicies when a resource's account
  is in an organization.

``simulate-principal-policy`` decides the same questions for a user or role of a loaded world
(a role is evaluated as a session of it). A group policy source is unsupported: AWS simulates a
group's policies with no member identity, which a world cannot express without inventing a user.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from .evaluate import SERVICE_SOURCE_KEYS, SOURCE_IDENTITY_KEY
from .grammar.arn import parse_arn
from .grammar.ast import Policy
from .grammar.diagnostics import Diagnostic, Diagnostics, InvalidInput, did_you_mean
from .grammar.json_policy import parse_policy_text
from .validate import validate_policy
from .world import BUILTIN_POLICY_IDS, MAX_OU_DEPTH, S3_BUCKET, World, resource_policy_kind

EXIT_OK, EXIT_DENIED, EXIT_INVALID = 0, 2, 3

UNSUPPORTED, INVALID = "E510", "E511"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_CALLER_NAME = "simulated-caller"
DEFAULT_ORG = "o-iamlogicsim"

#: API_ContextEntry, ContextKeyType valid values.
CONTEXT_KEY_TYPES = ("string", "stringList", "numeric", "numericList", "boolean", "booleanList", "ip", "ipList",
                     "binary", "binaryList", "date", "dateList")
_CATALOG_TYPE = {"String": "string", "ArrayOfString": "string", "ARN": "string", "ArrayOfARN": "string",
                 "Bool": "boolean", "ArrayOfBool": "boolean", "Numeric": "numeric", "Date": "date",
                 "IPAddress": "ip"}
_CONTEXT_FIELDS = ("ContextKeyName", "ContextKeyValues", "ContextKeyType")

_DECISION = {"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
_VERDICT = {"allow": "allowed", "deny": "explicitDeny", "no allow": "implicitDeny"}
_SEVERITY = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}

IAM_POLICY, RESOURCE_POLICY, BOUNDARY_POLICY = "IAM Policy", "Resource Policy", "Permissions Boundary Policy"
SCP, RCP, SESSION_POLICY = "SCP", "RCP", "Session Policy"
_TYPE_ORDER = (IAM_POLICY, RESOURCE_POLICY, BOUNDARY_POLICY, SESSION_POLICY, SCP, RCP)
_KIND_TYPE = {"identity": IAM_POLICY, "boundary": BOUNDARY_POLICY, "resource": RESOURCE_POLICY, "key": RESOURCE_POLICY,
              "trust": RESOURCE_POLICY, "scp": SCP, "rcp": RCP, "session": SESSION_POLICY}

_ACCOUNT = re.compile(r"[0-9]{12}")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_SERVICE = re.compile(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?")
_IAM = re.compile(r"arn:aws:iam::([0-9]{12}):(user|role|group)(/(?:[^/]+/)*)([^/]+)")
_ROOT = re.compile(r"arn:aws:iam::([0-9]{12}):root")
_SESSION = re.compile(r"arn:aws:sts::([0-9]{12}):assumed-role/([^/]+)/(.+)")
_FEDERATED = re.compile(r"arn:aws:sts::([0-9]{12}):federated-user/(.+)")


def _fail(code: str, message: str, help: str | None = None) -> InvalidInput:
    return InvalidInput([Diagnostic(code, message, help=help)])


def unsupported(message: str, help: str | None = None) -> InvalidInput:
    """The error for an option (or combination) that iamlogic cannot express: never silently dropped."""
    return _fail(UNSUPPORTED, f"unsupported: {message}", help)


# ---------------------------------------------------------------------------------------------
# Reading options


def one_session_policy(values: Sequence[str] | None) -> str | None:
    """The ``--session-policy`` given (an option that may be repeated, so that a second one is
    refused rather than silently replacing the first)."""
    if values and len(values) > 1:
        raise unsupported(f"--session-policy is given {len(values)} times: iamlogic models one inline session "
                          "policy a session (AWS also takes managed session policy ARNs, PolicyArns, which "
                          "iamlogic does not model)", "give one session policy")
    return values[0] if values else None


def _read_text(value: str, what: str) -> tuple[str, str | None]:
    """An option value, or the content of ``file://path`` / ``fileb://path`` (as the AWS CLI reads them)."""
    for prefix in ("file://", "fileb://"):
        if value.startswith(prefix):
            path = value[len(prefix):]
            try:
                with open(path, encoding="utf-8") as fh:
                    return fh.read(), path
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput([Diagnostic("E320", f"cannot read '{path}' ({what}): "
                                                       f"{getattr(exc, 'strerror', None) or exc}")]) from None
    return value, None


@dataclass
class Doc:
    """One policy document given on the command line."""

    source_id: str  # PolicyInputList.1, ResourcePolicy, ScpLevels.1.2, ...
    kind: str  # the kind it is validated as
    text: str
    file: str | None = None  # the path it was read from
    positions: bool = True  # False for a document given as a JSON object inside a levels array
    policy: Policy | None = None


def _doc(value: str, source_id: str, kind: str) -> Doc:
    text, path = _read_text(value, source_id)
    return Doc(source_id, kind, text, path)


def _levels(value: str | None, option: str, kind: str) -> list[list[Doc]] | None:
    """``--scp-levels``/``--rcp-levels``: a JSON array of levels, each an array of policy documents."""
    if value is None:
        return None
    text, _ = _read_text(value, option)
    data = _loads(text, option)
    if not isinstance(data, list) or not all(isinstance(level, list) for level in data):
        raise _fail(INVALID, f"{option} must be a JSON array of levels, each an array of policy documents",
                    "root first, the account's own attachments last: [[ROOT...], [OU...], [ACCOUNT...]]")
    if len(data) < 2:
        raise _fail(INVALID, f"{option} has {len(data)} level(s); give the root and the account at least",
                    "the first level is the root, the last the account itself, the ones between are OUs")
    if len(data) > MAX_OU_DEPTH + 2:
        raise _fail(INVALID, f"{option} has {len(data)} levels; AWS Organizations allows the root, {MAX_OU_DEPTH} "
                             f"levels of OUs and the account ({MAX_OU_DEPTH + 2} levels)")
    prefix = "ScpLevels" if kind == "scp" else "RcpLevels"
    out = []
    for i, level in enumerate(data, 1):
        docs = []
        for j, item in enumerate(level, 1):
            sid = f"{prefix}.{i}.{j}"
            if isinstance(item, str):
                docs.append(_doc(item, sid, kind))
            elif isinstance(item, dict):
                docs.append(Doc(sid, kind, json.dumps(item, indent=2), positions=False))
            else:
                raise _fail(INVALID, f"{option}: level {i} item {j} is neither a policy document nor a string")
        out.append(docs)
    return out


def _check_docs(docs: Iterable[Doc]) -> None:
    """Parse and validate every document as its kind; raise with every error, print warnings."""
    diags: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for d in docs:
        name = d.file or d.source_id
        sources[name] = d.text
        policy, found = parse_policy_text(d.text, name)
        diags += list(found)
        if policy is not None:
            diags += validate_policy(policy, d.kind)
            d.policy = policy
    diags = list(dict.fromkeys(diags))
    if any(x.is_error for x in diags):
        raise InvalidInput(Diagnostics(diags).sorted(), sources)
    if diags:
        print(Diagnostics(diags).render(sources), file=sys.stderr)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_top(text: str) -> list[str]:
    """Split AWS CLI shorthand at commas outside quotes and brackets."""
    parts, buf, quote, depth = [], [], None, 0
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def _shorthand_entry(text: str) -> dict[str, Any]:
    """``ContextKeyName=k,ContextKeyValues=v1,v2,ContextKeyType=stringList`` (AWS CLI shorthand)."""
    entry: dict[str, Any] = {}
    current = None
    for token in _split_top(text):
        m = re.fullmatch(r"\s*(\w+)\s*=(.*)", token, re.S)
        if m and m.group(1) in _CONTEXT_FIELDS:
            current, value = m.group(1), m.group(2).strip()
            if current in entry:
                raise _fail(INVALID, f"context entry {text!r} gives {current} twice")
            if current == "ContextKeyValues":
                if value.startswith("[") and value.endswith("]"):
                    entry[current] = [_unquote(v) for v in _split_top(value[1:-1]) if v.strip()]
                    current = None  # a bracketed list is complete
                else:
                    entry[current] = [_unquote(value)]
            else:
                entry[current] = _unquote(value)
        elif m and not token.strip().startswith(("'", '"')) and (
                current is None or did_you_mean(m.group(1), _CONTEXT_FIELDS)):  # a misspelt field, not a value
            raise _fail(INVALID, f"unknown field {m.group(1)!r} in context entry {text!r}",
                        did_you_mean(m.group(1), _CONTEXT_FIELDS) or "fields: " + ", ".join(_CONTEXT_FIELDS))
        elif current == "ContextKeyValues":
            entry[current].append(_unquote(token))
        else:
            raise _fail(INVALID, f"context entry {text!r} is not "
                                 "ContextKeyName=KEY,ContextKeyValues=V1,V2,ContextKeyType=TYPE")
    return entry


def _loads(text: str, what: str) -> Any:
    """The JSON value of an option's text; E511 when it is not JSON, or nested too deeply to read."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(INVALID, f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise _fail(INVALID, f"{what}: values nested too deeply to read") from None


def _json_entries(text: str, source: str) -> list[dict[str, Any]]:
    data = _loads(text, f"context entries in {source}")
    data = [data] if isinstance(data, dict) else data
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise _fail(INVALID, "context entries as JSON are a list of "
                             "{\"ContextKeyName\": …, \"ContextKeyValues\": […], \"ContextKeyType\": …}")
    for e in data:
        unknown = [k for k in e if k not in _CONTEXT_FIELDS]
        if unknown:
            raise _fail(INVALID, f"unknown field {unknown[0]!r} in a context entry",
                        did_you_mean(unknown[0], _CONTEXT_FIELDS) or "fields: " + ", ".join(_CONTEXT_FIELDS))
        values = e.get("ContextKeyValues")
        if isinstance(values, (str, int, float, bool)):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise _fail(INVALID, f"ContextKeyValues of {e.get('ContextKeyName')!r} must be a list of strings")
        e["ContextKeyValues"] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
    return data


def check_context_value(name: str, base: str, value: str) -> str:
    """Check one value against its ContextKeyType; booleans are normalized to ``true``/``false``."""
    bad = None
    if base == "boolean":
        if value.lower() not in ("true", "false"):
            bad = "true or false"
        value = value.lower()
    elif base == "numeric":
        try:
            if not math.isfinite(float(value)):
                bad = "a finite number"
        except ValueError:
            bad = "a number"
    elif base == "ip":
        try:
            ipaddress.ip_address(value)  # a request comes from one address
        except ValueError:
            bad = "an IP address"
    elif base == "date":
        try:
            if not re.fullmatch(r"-?[0-9]+", value):
                datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            bad = "an ISO 8601 date (2019-04-25T11:00:00Z) or epoch seconds"
    elif base == "binary":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            bad = "base64 text"
    if bad:
        raise _fail(INVALID, f"context key {name}: {value!r} is not {bad}")
    return value


def parse_context_entries(items: Sequence[str] | None, catalog=None) -> dict[str, str | list[str]]:
    """``--context-entries``: AWS CLI shorthand or JSON, into a request context.

    Each item is ``ContextKeyName=K,ContextKeyValues=V1,V2,ContextKeyType=T`` (quotes and
    ``[V1,V2]`` allowed), or a JSON list (or object) of API_ContextEntry structures, or
    ``file://`` of such JSON. A ``…List`` type gives a multivalued key (a list); without a type
    the catalog decides (a key the catalog does not know is a string, or a list when several
    values are given).
    """
    if catalog is None:
        from .catalog import Catalog

        catalog = Catalog.default()
    entries: list[dict[str, Any]] = []
    for item in items or ():
        text, path = _read_text(item, "--context-entries")
        if path is not None or text.lstrip().startswith(("[", "{")):
            entries += _json_entries(text, path or "--context-entries")
        else:
            entries.append(_shorthand_entry(text))
    context: dict[str, str | list[str]] = {}
    seen: dict[str, str] = {}
    for e in entries:
        name = e.get("ContextKeyName")
        if not isinstance(name, str) or not name.strip():
            raise _fail(INVALID, "a context entry has no ContextKeyName")
        name = name.strip()
        values = e.get("ContextKeyValues")
        if not values:
            raise _fail(INVALID, f"context key {name} has no ContextKeyValues")
        if name.lower() in seen:
            raise _fail(INVALID, f"context key {name} is given twice (as {seen[name.lower()]})",
                        "give every value of a multivalued key in one entry")
        seen[name.lower()] = name
        ctype = e.get("ContextKeyType")
        if ctype is None:
            info = catalog.condition_key(name)
            if info is not None:
                multivalued, base = info.multivalued, _CATALOG_TYPE.get(info.type, "string")
                if not multivalued and len(values) > 1:
                    raise _fail(INVALID, f"context key {name} is single-valued ({info.type}) but has "
                                         f"{len(values)} values", "give one value, or a ContextKeyType ending in List")
            else:
                multivalued, base = len(values) > 1, "string"
        else:
            if ctype not in CONTEXT_KEY_TYPES:
                raise _fail(INVALID, f"unknown ContextKeyType {ctype!r} for {name}",
                            did_you_mean(ctype, CONTEXT_KEY_TYPES) or "types: " + ", ".join(CONTEXT_KEY_TYPES))
            multivalued, base = ctype.endswith("List"), ctype.removesuffix("List")
            if not multivalued and len(values) > 1:
                raise _fail(INVALID, f"context key {name} has type {ctype} but {len(values)} values",
                            f"use ContextKeyType={ctype}List for a multivalued key")
        checked = [check_context_value(name, base, v) for v in values]
        context[name] = checked if multivalued else checked[0]
    return context


def _shorthand_tag(text: str, option: str) -> tuple[str, str]:
    """One ``Key=K,Value=V`` item (either order; quote a value with a comma): exactly those two fields."""
    fields: dict[str, str] = {}
    for token in _split_top(text):
        m = re.fullmatch(r"\s*(Key|Value)=(.*)", token, re.S)
        if not m or m.group(1) in fields:
            break
        fields[m.group(1)] = _unquote(m.group(2))
    else:
        if set(fields) == {"Key", "Value"}:
            return fields["Key"], fields["Value"]
    raise _fail(INVALID, f"{option}: {text!r} is not Key=K,Value=V",
                "one tag an item: Key=a,Value=b Key=c,Value=d (quote a value with a comma: Value=\"b,c\"), "
                "or JSON [{\"Key\": \"a\", \"Value\": \"b\"}]")


def parse_tags(items: Sequence[str] | None, option: str) -> dict[str, str]:
    """``Key=K,Value=V`` items (AWS CLI shorthand) or a JSON list of ``{"Key", "Value"}``."""
    tags: dict[str, str] = {}
    for item in items or ():
        text, path = _read_text(item, option)
        if path is not None or text.lstrip().startswith(("[", "{")):
            data = _loads(text, option)
            data = [data] if isinstance(data, dict) else data
            pairs = []
            for t in data if isinstance(data, list) else [None]:
                if not isinstance(t, dict) or set(t) != {"Key", "Value"}:
                    raise _fail(INVALID, f"{option}: a tag is {{\"Key\": …, \"Value\": …}}")
                if not isinstance(t["Key"], str) or not isinstance(t["Value"], str):
                    raise _fail(INVALID, f"{option}: tag {json.dumps(t)} has a Key or Value that is not a string")
                pairs.append((t["Key"], t["Value"]))
        else:
            pairs = [_shorthand_tag(text, option)]
        for k, v in pairs:
            if not k:
                raise _fail(INVALID, f"{option}: a tag key is empty")
            if k.lower() in (x.lower() for x in tags):
                raise _fail(INVALID, f"{option}: tag key {k!r} is given twice")
            tags[k] = v
    return tags


# ---------------------------------------------------------------------------------------------
# The caller


@dataclass
class Caller:
    kind: str  # user, role, session, federated, root, service, anonymous
    arn: str  # the principal as iamlogic evaluates it
    account: str | None = None
    name: str | None = None  # user or role name (federated: the federated user's name)
    path: str = "/"
    session: str | None = None

    @property
    def has_identity_policies(self) -> bool:
        return self.kind in ("user", "role", "session", "federated")


def parse_caller(text: str, option: str = "--caller-arn") -> Caller:
    """Read a caller: an IAM user or role ARN, a role-session or federated-user ARN, an account root
    ARN (or account id), a service principal name, or ``anonymous``."""
    text = text.strip()
    if text == "anonymous":
        return Caller("anonymous", "anonymous")
    if _ACCOUNT.fullmatch(text):
        return Caller("root", f"arn:aws:iam::{text}:root", text)
    if _SERVICE.fullmatch(text):
        return Caller("service", text)
    m = _ROOT.fullmatch(text)
    if m:
        return Caller("root", text, m.group(1))
    m = _IAM.fullmatch(text)
    if m:
        acct, kind, path, name = m.groups()
        if kind == "group":
            raise _fail(INVALID, f"{option}: a group is not a principal and cannot make a request ({text})",
                        "give a user or role ARN")
        return Caller(kind, text, acct, name, path)
    m = _SESSION.fullmatch(text)
    if m:
        return Caller("session", text, m.group(1), m.group(2), "/", m.group(3))
    m = _FEDERATED.fullmatch(text)
    if m:
        return Caller("federated", text, m.group(1), m.group(2))
    if re.match(r"arn:aws-[a-z-]+:", text):
        raise unsupported(f"{option} {text}: only the aws partition is modelled")
    raise _fail(INVALID, f"{option}: {text!r} is not a principal",
                "arn:aws:iam::ACCT:user/NAME, arn:aws:iam::ACCT:role/NAME, "
                "arn:aws:sts::ACCT:assumed-role/ROLE/SESSION, arn:aws:sts::ACCT:federated-user/NAME, "
                "arn:aws:iam::ACCT:root, a service principal (events.amazonaws.com) or anonymous")


def _account_arg(value: str, option: str) -> str:
    """``--resource-owner``: an account id, or ``arn:aws:iam::ACCT:root`` as the AWS API takes it."""
    value = value.strip()
    m = _ROOT.fullmatch(value)
    if m:
        return m.group(1)
    if _ACCOUNT.fullmatch(value):
        return value
    raise _fail(INVALID, f"{option}: {value!r} is neither an account id nor arn:aws:iam::ACCOUNT:root")


def _resource_kind(arn: str) -> str:
    """The kind a resource-based policy is validated as: a role's is its trust policy, a KMS key's a key policy."""
    m = _IAM.fullmatch(arn)
    return "trust" if m and m.group(2) == "role" else resource_policy_kind(arn)


def _arn_account(arn: str) -> str | None:
    parsed = parse_arn(arn)
    return parsed.account if not isinstance(parsed, str) and parsed.account else None


def _resource_list(values: Sequence[str] | None) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values or ("*",)))
    for r in out:
        if r == "*":
            continue
        parsed = parse_arn(r)
        if isinstance(parsed, str):
            raise _fail(INVALID, f"--resource-arns: {r!r}: {parsed}")
        if parsed.account and not _ACCOUNT.fullmatch(parsed.account):
            raise _fail(INVALID, f"--resource-arns: {r!r} names account {parsed.account!r}, not a 12-digit id")
    return out


def _action_list(values: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values))
    for a in out:
        if "*" in a or "?" in a:
            raise _fail(INVALID, f"--action-names: {a!r}: the simulator takes action names, not patterns "
                                 "(API_SimulateCustomPolicy: \"does not support using wildcards (*) in an action "
                                 "name\")")
        if not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9_-]+", a):
            raise _fail(INVALID, f"--action-names: {a!r} is not service:ActionName")
    return out


# ---------------------------------------------------------------------------------------------
# A simulation: the world, the requests, and how to describe the statements it may cite


@dataclass
class Simulation:
    world: World
    principal: str
    actions: list[str]
    resources: list[str]
    context: dict[str, Any]
    session_policy: Policy | None = None
    federating_user: str | None = None
    caller_in_org: bool = False
    docs_by_name: dict[str, Doc] = field(default_factory=dict)  # policy name in the world -> document
    resource_policy: Doc | None = None
    session_doc: Doc | None = None
    end_positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # (file, line, col) -> end
    world_sources: bool = False  # statements come from a loaded world: cite policies by name
    _placed: set[str] | None = None

    def in_org(self, acct: str) -> bool:
        """Whether an account belongs to an organization of the world."""
        if self._placed is None:
            from .world import resolve

            self._placed = set(resolve(self.world.model).placement)
        return acct in self._placed

    def describe(self, ref, type_: str) -> dict:
        """One MatchedStatements entry for a statement of the decision."""
        doc = None
        if not self.world_sources:
            if ref.policy_kind in ("resource", "key", "trust"):
                doc = self.resource_policy
            elif ref.policy_kind == "session":
                doc = self.session_doc
            else:
                doc = self.docs_by_name.get(ref.policy_name)
        entry: dict[str, Any] = {"SourcePolicyId": doc.source_id if doc else ref.policy_name,
                                 "SourcePolicyType": type_}
        line, col, end = ref.line, ref.col, None
        if doc is not None and doc.policy is not None and ref.index < len(doc.policy.statements):
            span = doc.policy.statements[ref.index].span
            if span is not None:
                line, col, end = span.line, span.col, (span.end_line, span.end_col)
        elif ref.file is not None:
            end = self.end_positions.get((ref.file, ref.line, ref.col))
        if line and (doc is None or doc.positions):
            entry["StartPosition"] = {"Line": line, "Column": col}
            if end and end[0]:
                entry["EndPosition"] = {"Line": end[0], "Column": end[1]}
        if ref.sid is not None:
            entry["Sid"] = ref.sid
        source_file = doc.file if doc is not None else (ref.file if self.world_sources else None)
        if source_file and (doc is None or doc.positions):
            entry["SourceFile"] = source_file
        return entry


def _place_chain(org, accounts: Sequence[str], prefix: str, n_levels: int, scp_names, rcp_names) -> None:
    """OUs ``prefix2``…``prefix{n-1}`` nested under the root, the accounts at the bottom; levels 2..n-1
    and the account level get their SCPs/RCPs (``scp_names[i]`` per level), FullAWSAccess detached
    where SCP levels are given."""
    path = ""
    for i in range(1, n_levels - 1):
        ou = f"{prefix}{i + 1}"
        org.add_ou(f"{path}/{ou}" if path else ou)
        path = f"{path}/{ou}" if path else ou
        if scp_names is not None:
            org.detach_full_access(path)
            for s in scp_names[i]:
                org.attach(path, "scp", s)
        for r in (rcp_names[i] if rcp_names is not None else ()):
            org.attach(path, "rcp", r)
    for acct in accounts:
        org.place(acct, path, scps=scp_names[-1] if scp_names is not None else (),
                  rcps=rcp_names[-1] if rcp_names is not None else (), detach_full_access=scp_names is not None)


def build_custom(args) -> Simulation:
    """Translate ``simulate-custom-policy`` options into a world and requests."""
    actions = _action_list(args.action_names)
    resources = _resource_list(args.resource_arns)
    for opt in ("resource_handling_option", "max_items", "starting_token", "page_size", "marker"):
        if getattr(args, opt, None) is not None:
            raise unsupported(f"--{opt.replace('_', '-')}: iamlogic simulates every action on every resource "
                              "at once and has no EC2 resource-handling scenarios")

    # -- documents --------------------------------------------------------------------------
    identity = [_doc(v, f"PolicyInputList.{i}", "identity") for i, v in enumerate(args.policy_input_list or (), 1)]
    boundaries = [_doc(v, f"PermissionsBoundaryPolicyInputList.{i}", "boundary")
                  for i, v in enumerate(args.permissions_boundary_policy_input_list or (), 1)]
    if len(boundaries) > 1:
        raise _fail(INVALID, f"--permissions-boundary-policy-input-list has {len(boundaries)} documents; an entity "
                             "has one permissions boundary (API_SimulateCustomPolicy: \"You can input only one "
                             "permissions boundary\")")
    named = [r for r in resources if r != "*"]
    resource_doc = None
    docs_to_check = [*identity, *boundaries]
    if args.resource_policy is not None:
        kinds = sorted({_resource_kind(r) for r in named}) or ["resource"]
        resource_doc = _doc(args.resource_policy, "ResourcePolicy", kinds[0])
        docs_to_check.append(resource_doc)
        for k in kinds[1:]:  # the same document, validated as each kind it is used as
            docs_to_check.append(Doc("ResourcePolicy", k, resource_doc.text, resource_doc.file))
    session_policy = one_session_policy(args.session_policy)
    session_doc = _doc(session_policy, "SessionPolicy", "session") if session_policy is not None else None
    if session_doc:
        docs_to_check.append(session_doc)
    scp_levels = _levels(args.scp_levels, "--scp-levels", "scp")
    rcp_levels = _levels(args.rcp_levels, "--rcp-levels", "rcp")
    for levels in (scp_levels, rcp_levels):
        for level in levels or ():
            docs_to_check += level
    _check_docs(docs_to_check)
    context = parse_context_entries(args.context_entries)
    caller_tags = parse_tags(args.caller_tags, "--caller-tags")
    resource_tags = parse_tags(args.resource_tags, "--resource-tags")
    owner = _account_arg(args.resource_owner, "--resource-owner") if args.resource_owner else None

    # -- the caller -------------------------------------------------------------------------
    ctx_lower = {k.lower(): v for k, v in context.items()}
    if args.caller_arn:
        caller = parse_caller(args.caller_arn)
    else:
        if resource_doc is not None:
            raise _fail(INVALID, "--resource-policy needs --caller-arn, as in AWS (API_SimulateCustomPolicy, "
                                 "CallerArn: \"required if you include a ResourcePolicy so that the policy's "
                                 "Principal element has a value to use\")")
        accounts_named = list(dict.fromkeys(a for a in map(_arn_account, named) if a))
        acct = ctx_lower.get("aws:principalaccount") if isinstance(ctx_lower.get("aws:principalaccount"), str) else None
        if acct is not None and not _ACCOUNT.fullmatch(acct):
            raise _fail(INVALID, f"context key aws:PrincipalAccount: {acct!r} is not a 12-digit account id")
        if acct is None and owner is None and len(accounts_named) > 1:
            raise unsupported(f"the resources name several accounts ({', '.join(accounts_named)}) and no "
                              "--caller-arn says which account calls", "give --caller-arn")
        acct = acct or owner or (accounts_named[0] if accounts_named else DEFAULT_ACCOUNT)
        principal_arn, username = ctx_lower.get("aws:principalarn"), ctx_lower.get("aws:username")
        if isinstance(principal_arn, str):
            caller = parse_caller(principal_arn, "context key aws:PrincipalArn")
        else:
            valid = isinstance(username, str) and re.fullmatch(r"[\w+=,.@-]+", username)
            name = username if valid else DEFAULT_CALLER_NAME
            caller = parse_caller(f"arn:aws:iam::{acct}:user/{name}")
    caller_acct = caller.account

    # -- options that need a particular caller ----------------------------------------------
    label = {"user": "an IAM user", "role": "an IAM role", "session": "a role session", "federated": "a federated user",
             "root": "an account root user", "service": "a service principal", "anonymous": "an anonymous caller"}

    def need(ok: bool, option: str, why: str) -> None:
        if not ok:
            raise unsupported(f"{option} with {label[caller.kind]} as the caller ({caller.arn}): {why}")

    need(not identity or caller.has_identity_policies, "--policy-input-list",
         "identity-based policies are attached to IAM users and roles only")
    need(not boundaries or caller.has_identity_policies, "--permissions-boundary-policy-input-list",
         "a permissions boundary is set on an IAM user or role")
    need(session_doc is None or caller.kind in ("role", "session", "federated"), "--session-policy",
         "a session policy is passed when a role session or federated-user session is created")
    need(not args.service_linked_role or caller.kind in ("role", "session"), "--service-linked-role",
         "only a role can be service-linked")
    need(not caller_tags or caller.kind in ("user", "role", "session"), "--caller-tags",
         "tags are set on IAM users and roles")
    # AWS's simulator gives a context entry's value to every condition that reads its key: an
    # aws:PrincipalTag/KEY entry is a tag of the caller (of its user or role), as --caller-tags gives it
    for key in [k for k in context if k.lower().startswith("aws:principaltag/")]:
        need(caller.kind in ("user", "role", "session"), f"context key {key}",
             "principal tags are simulated as the tags of an IAM user or role (or of a session's role)")
        tag, value = key.split("/", 1)[1], context.pop(key)
        if not tag or not isinstance(value, str):
            raise _fail(INVALID, f"context key {key}: a principal tag has a key and one value")
        if tag.lower() in (t.lower() for t in caller_tags):
            raise _fail(INVALID, f"tag {tag!r} is given twice: by --caller-tags and by context key {key}")
        caller_tags[tag] = value
    # keys AWS sets for some callers only: iamlogic takes them from those callers only (never a
    # value dropped with a note, as a world's request would be)
    for key in context:
        low = key.lower()
        need(low not in SERVICE_SOURCE_KEYS or caller.kind == "service", f"context key {key}",
             "AWS sets it only when a service calls on behalf of a resource's owner: give a service principal "
             "as the caller (--caller-arn SERVICE.amazonaws.com)")
        need(low != SOURCE_IDENTITY_KEY or caller.kind in ("role", "session"), f"context key {key}",
             "AWS sets it only in a role session (from its AssumeRole call)")
    need(args.caller_role_arn is None or caller.kind == "session", "--caller-role-arn",
         "it names the role behind an assumed-role session ARN")
    need(args.federating_user_arn is None or caller.kind == "federated", "--federating-user-arn",
         "it names the IAM user behind a federated-user ARN")
    has_account = caller_acct is not None
    for option, given in (("--scp-levels", scp_levels is not None), ("--caller-org-id", args.caller_org_id),
                          ("--management-account", args.management_account)):
        need(not given or has_account, option, "SCPs and organizations apply to principals of an account")

    role_path = caller.path
    if args.caller_role_arn is not None:
        role = parse_caller(args.caller_role_arn, "--caller-role-arn")
        if role.kind != "role" or role.account != caller_acct or role.name != caller.name:
            raise _fail(INVALID, f"--caller-role-arn {args.caller_role_arn} is not the role of {caller.arn}",
                        f"give arn:aws:iam::{caller_acct}:role/PATH/{caller.name}")
        role_path = role.path
    federating_user = None
    if caller.kind == "federated":
        if args.federating_user_arn is None:
            raise _fail(INVALID, f"a federated-user caller ({caller.arn}) needs --federating-user-arn: the IAM user "
                                 "that called GetFederationToken, whose policies apply")
        fed = parse_caller(args.federating_user_arn, "--federating-user-arn")
        if fed.kind != "user" or fed.account != caller_acct:
            raise _fail(INVALID, f"--federating-user-arn {args.federating_user_arn} must be an IAM user of account "
                                 f"{caller_acct}, the account of {caller.arn}")
        federating_user = fed

    # -- resources and their owners ---------------------------------------------------------
    def owner_of(arn: str) -> str | None:
        if arn == "*":
            return caller_acct  # iamlogic takes the caller's account for '*'
        return _arn_account(arn) or owner or caller_acct or DEFAULT_ACCOUNT

    if owner is not None and "*" in resources and owner != caller_acct:
        raise unsupported(f"--resource-owner {owner} with resource '*': '*' is not a resource that can be "
                          f"declared in account {owner}", "give --resource-arns")
    if resource_doc is not None and "*" in resources:
        raise unsupported("--resource-policy with resource '*': a resource-based policy belongs to a resource",
                          "give --resource-arns")
    if resource_tags and "*" in resources:
        raise unsupported("--resource-tags with resource '*': tags belong to a resource", "give --resource-arns")
    if args.bucket_abac and not any(S3_BUCKET.fullmatch(r) for r in resources):
        raise unsupported("--bucket-abac: no resource of --resource-arns is an S3 bucket", "give arn:aws:s3:::BUCKET")
    if owner is not None and args.caller_arn and not (
            any(_arn_account(r) is None for r in named) or ("*" in resources and owner == caller_acct)):
        raise unsupported(f"--resource-owner {owner}: it owns the resources whose ARN names no account, and every "
                          "resource ARN given names its account")
    if resource_doc is not None and caller.kind in ("role", "session") and \
            f"arn:aws:iam::{caller_acct}:role{role_path}{caller.name}" in named:
        raise unsupported("--resource-policy on the caller's own role: the role would need two definitions")
    if resource_doc is not None and owner is not None:
        other = [r for r in named if _arn_account(r) not in (None, owner)]
        if other:
            raise unsupported(f"--resource-owner {owner} owns the resource policy, but {other[0]} names account "
                              f"{_arn_account(other[0])}: a resource-based policy belongs to its resource's account")
    resource_accounts = list(dict.fromkeys(a for a in map(owner_of, resources) if a))
    for option, given in (("--rcp-levels", rcp_levels is not None), ("--resource-org-id", args.resource_org_id),
                          ("--resource-management-account", args.resource_management_account)):
        if given and not resource_accounts:
            raise unsupported(f"{option}: the resource '*' of a {caller.kind} caller belongs to no account",
                              "give --resource-arns")

    # -- organizations ----------------------------------------------------------------------
    for option in ("caller_org_id", "resource_org_id"):
        value = getattr(args, option)
        if value is not None and not _ORG_ID.fullmatch(value):
            raise _fail(INVALID, f"--{option.replace('_', '-')}: {value!r} is not an organization id "
                                 "(o-[a-z0-9]{10,32})")
    shared = caller_acct is not None and caller_acct in resource_accounts
    if shared and args.caller_org_id and args.resource_org_id and args.caller_org_id != args.resource_org_id:
        raise unsupported(f"account {caller_acct} is both the caller's and a resource's: it cannot be in "
                          f"{args.caller_org_id} and {args.resource_org_id}")
    wants_rcp = rcp_levels is not None or args.resource_management_account
    caller_org = None
    if caller_acct is not None:
        caller_org = args.caller_org_id or (args.resource_org_id if shared else None)
        if caller_org is None and (scp_levels is not None or args.management_account or (shared and wants_rcp)):
            caller_org = DEFAULT_ORG
    resource_org = args.resource_org_id or ((caller_org or DEFAULT_ORG) if wants_rcp else None)
    org_of: dict[str, str] = {}
    if caller_org:
        org_of[caller_acct] = caller_org
    for a in resource_accounts:
        if a != caller_acct and resource_org:
            org_of[a] = resource_org
    if shared and scp_levels is not None and rcp_levels is not None and len(scp_levels) != len(rcp_levels):
        raise unsupported(f"--scp-levels has {len(scp_levels)} levels and --rcp-levels {len(rcp_levels)}, but both "
                          f"describe the chain of account {caller_acct} (the caller's account owns the resource)")
    managers: dict[str, str] = {}
    if args.management_account:
        managers[caller_org] = caller_acct
    if args.resource_management_account:
        if len(resource_accounts) != 1:
            raise unsupported("--resource-management-account with resources in several accounts "
                              f"({', '.join(resource_accounts)}): say which one is the management account")
        target = resource_accounts[0]
        org = org_of[target]
        if managers.get(org, target) != target:
            raise unsupported(f"--management-account and --resource-management-account make two management "
                              f"accounts ({managers[org]}, {target}) of {org}")
        managers[org] = target

    # -- the world --------------------------------------------------------------------------
    world = World()
    accounts: dict[str, Any] = {}

    def account(acct_id: str):
        if acct_id not in accounts:
            accounts[acct_id] = world.add_account(acct_id, f"account-{acct_id}")
        return accounts[acct_id]

    docs_by_name: dict[str, Doc] = {}
    policies = {d.source_id: d.policy for d in identity}
    docs_by_name.update({d.source_id: d for d in identity})
    boundary_name = None
    if boundaries:
        boundary_name = boundaries[0].source_id
        docs_by_name[boundary_name] = boundaries[0]
    if caller_acct is not None:
        acct = account(caller_acct)
        if boundary_name:
            acct.add_policy(boundary_name, boundaries[0].policy)
        if caller.kind == "user":
            acct.add_user(caller.name, path=caller.path, tags=caller_tags, policies=policies, boundary=boundary_name)
        elif caller.kind in ("role", "session"):
            acct.add_role(caller.name, path=role_path, tags=caller_tags, policies=policies, boundary=boundary_name,
                          service_linked=bool(args.service_linked_role))
        elif caller.kind == "federated":
            acct.add_user(federating_user.name, path=federating_user.path, policies=policies, boundary=boundary_name)
    buckets: set[str] = set()
    for r in named:
        role = _IAM.fullmatch(r)
        if resource_doc is not None and role and role.group(2) == "role":
            # A role's resource-based policy is its trust policy: declare the role, so that
            # sts:AssumeRole* requests need the trust policy's explicit allow (aws-semantics §1.8).
            account(owner_of(r)).add_role(role.group(4), path=role.group(3), tags=resource_tags or None,
                                          trust=resource_doc.policy)
            continue
        policy = resource_doc.policy if resource_doc is not None else None
        if policy is not None and ":s3:::" in r and "/" in r:
            # an S3 object has no policy of its own: the resource policy is its bucket's
            bucket = r.split("/", 1)[0]
            if bucket not in named and bucket not in buckets:
                buckets.add(bucket)
                account(owner_of(r)).add_resource(bucket, policy=policy)
            policy = None
        account(owner_of(r)).add_resource(r, tags=resource_tags or None, policy=policy,
                                          abac=bool(args.bucket_abac and S3_BUCKET.fullmatch(r)))
    for a in resource_accounts:
        account(a)

    used = set(accounts)
    spare = (f"{n:012d}" for n in range(999999999999, 0, -1))
    orgs = list(dict.fromkeys(org_of.values()))
    for org_id in orgs:
        mgmt = managers.get(org_id)
        if mgmt is None:
            mgmt = next(a for a in spare if a not in used)
            used.add(mgmt)
            account(mgmt)
        org = world.add_organization(org_id, mgmt)
        scp_names = rcp_names = None
        if org_id == caller_org and scp_levels is not None:
            scp_names = [[d.source_id for d in level] for level in scp_levels]
            for level in scp_levels:
                for d in level:
                    org.add_scp(d.source_id, d.policy)
                    docs_by_name[d.source_id] = d
            org.detach_full_access("")
            for s in scp_names[0]:
                org.attach("", "scp", s)
        members = [a for a, o in org_of.items() if o == org_id]
        rcp_members = [a for a in members if a in resource_accounts]
        if rcp_levels is not None and rcp_members:
            rcp_names = [[d.source_id for d in level] for level in rcp_levels]
            for level in rcp_levels:
                for d in level:
                    org.add_rcp(d.source_id, d.policy)
                    docs_by_name[d.source_id] = d
            for r in rcp_names[0]:
                org.attach("", "rcp", r)
        if caller_acct in members:
            n = len(scp_levels) if scp_names else (len(rcp_levels) if shared and rcp_names else 2)
            _place_chain(org, [caller_acct], "Level", n, scp_names,
                         rcp_names if shared else None)
        others = [a for a in members if a != caller_acct]
        if others:
            n = len(rcp_levels) if rcp_names else 2
            _place_chain(org, others, "ResourceLevel" if caller_acct in members else "Level", n, None, rcp_names)

    return Simulation(world, caller.arn, actions, resources, context,
                      session_policy=session_doc.policy if session_doc else None,
                      federating_user=federating_user.arn if federating_user else None,
                      caller_in_org=caller_org is not None, docs_by_name=docs_by_name,
                      resource_policy=resource_doc, session_doc=session_doc)


def build_principal(args) -> Simulation:
    """``simulate-principal-policy``: a loaded world and the policy source's requests."""
    from .world import group_arn, load, resolve, role_arn, user_arn

    for opt in ("policy_input_list", "permissions_boundary_policy_input_list", "resource_policy", "resource_owner",
                "caller_arn", "resource_handling_option", "max_items", "starting_token", "page_size", "marker"):
        if getattr(args, opt, None) is not None:
            raise unsupported(f"--{opt.replace('_', '-')} with simulate-principal-policy: the world says what the "
                              "principal's policies and the resources are", "edit the world, or use "
                              "simulate-custom-policy")
    actions = _action_list(args.action_names)
    resources = _resource_list(args.resource_arns)
    context = parse_context_entries(args.context_entries)
    source = args.policy_source_arn.strip()
    m = _IAM.fullmatch(source)
    if m and m.group(2) == "group":
        raise unsupported("group policy source: AWS simulates a group's policies without a member, and a world "
                          "cannot decide a request without a principal", "simulate a user of the group instead")
    if not m:
        raise _fail(INVALID, f"--policy-source-arn: {source!r} is not an IAM user, group or role ARN")
    world = load(args.world)
    for w in world.warnings:
        print(w.render(world.sources), file=sys.stderr)
    model = world.model
    known = set()
    for acct in model.accounts:
        known.update(user_arn(acct.id, u) for u in acct.users)
        known.update(role_arn(acct.id, r) for r in acct.roles)
        known.update(group_arn(acct.id, g) for g in acct.groups)
    if source not in known:
        raise _fail(INVALID, f"--policy-source-arn: {source} is not a user or role of the world (NoSuchEntity)",
                    did_you_mean(source, sorted(known)))
    ends: dict[tuple, tuple[int, int]] = {}
    for policy in _world_policies(model):
        for s in policy.statements:
            if s.span is not None:
                ends[(s.span.file, s.span.line, s.span.col)] = (s.span.end_line, s.span.end_col)
    return Simulation(world, source, actions, resources, context,
                      caller_in_org=m.group(1) in resolve(model).placement,
                      end_positions=ends, world_sources=True)


def _world_policies(model) -> Iterable[Policy]:
    for org in model.organizations:
        yield from (p.document for _, p in org.policies)
    yield from (p.document for p in model.aws_policies)
    for acct in model.accounts:
        yield from (p.document for p in acct.policies)
        for holder in (*acct.users, *acct.groups, *acct.roles):
            yield from (p.document for p in holder.inline)
        for role in acct.roles:
            if role.trust is not None:
                yield role.trust
        yield from (res.policy for res in acct.resources if res.policy is not None)


# ---------------------------------------------------------------------------------------------
# Deciding and describing


def _layer_type(layer: str) -> str | None:
    if layer.startswith("SCP "):
        return SCP
    if layer.startswith("RCP "):
        return RCP
    return {"resource-based policy": RESOURCE_POLICY, "identity-based policies": IAM_POLICY,
            "permissions boundary": BOUNDARY_POLICY, "session policy": SESSION_POLICY}.get(layer)


def _most_restrictive(values: Iterable[str]) -> str:
    return max(values, key=lambda v: _SEVERITY[v], default="allowed")


@dataclass
class _Outcome:
    resource: str
    decision: str
    matched: list[dict]
    missing: list[str]
    details: dict[str, str]
    cross_account: bool
    boundary: bool | None  # None: no boundary applies
    organizations: bool | None  # SCPs; None: not applicable
    rcps: bool | None


def _outcome(sim: Simulation, resource: str, d, req) -> _Outcome:
    types: dict[str, list[str]] = defaultdict(list)
    details: dict[str, list[str]] = defaultdict(list)
    boundary = organizations = rcps = None
    for layer in d.layers:
        t = _layer_type(layer.layer)
        if t is None:
            continue
        for s in layer.statements:
            if t not in types[s.id]:
                types[s.id].append(t)
        if layer.verdict in _VERDICT:
            details[t].append(_VERDICT[layer.verdict])
        if t == BOUNDARY_POLICY:
            boundary = layer.verdict == "allow"
        elif t == SCP:
            organizations = (organizations is not False) and layer.verdict == "allow"
        elif t == RCP:
            rcps = (rcps is not False) and layer.verdict == "allow"
    if organizations is None and sim.caller_in_org:
        organizations = True  # the management account or a service-linked role: no SCP applies
    builtin = set(BUILTIN_POLICY_IDS.values())
    matched = []
    for ref in sorted(d.statements, key=lambda s: (s.policy_name, s.index)):
        if ref.policy_id in builtin:
            continue
        for t in types.get(ref.id) or [_KIND_TYPE.get(ref.policy_kind, IAM_POLICY)]:
            matched.append(sim.describe(ref, t))
    matched.sort(key=lambda m: _TYPE_ORDER.index(m["SourcePolicyType"]))
    cross = req.account is not None and req.resource_account is not None and req.account != req.resource_account
    if rcps is None and req.resource_account is not None and sim.in_org(req.resource_account):
        rcps = True
    return _Outcome(resource, _DECISION[d.decision], matched, list(d.missing_context),
                    {t: _most_restrictive(v) for t, v in details.items()}, cross, boundary, organizations, rcps)


def _details(outcome: _Outcome) -> dict[str, str]:
    return {t: outcome.details[t] for t in _TYPE_ORDER if t in outcome.details}


def _evaluation_result(sim: Simulation, action: str, outcomes: list[_Outcome]) -> dict:
    decision = _most_restrictive(o.decision for o in outcomes)
    deciding = [o for o in outcomes if o.decision == decision]
    matched: list[dict] = []
    for o in deciding:
        for m in o.matched:
            if m not in matched:
                matched.append(m)
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": deciding[0].resource,
        "EvalDecision": decision,
        "MatchedStatements": matched,
        "MissingContextValues": sorted({k for o in outcomes for k in o.missing}),
    }
    orgs = [o.organizations for o in outcomes if o.organizations is not None]
    if orgs:
        result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": all(orgs)}
    bounds = [o.boundary for o in outcomes if o.boundary is not None]
    if bounds:
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": all(bounds)}
    specific = sim.resources != ["*"]
    if any(o.cross_account for o in outcomes):
        merged: dict[str, list[str]] = defaultdict(list)
        for o in outcomes:
            for t, v in o.details.items():
                merged[t].append(v)
        result["EvalDecisionDetails"] = {t: _most_restrictive(merged[t]) for t in _TYPE_ORDER if t in merged}
    elif specific:
        result["EvalDecisionDetails"] = {}
    rcps = [o.rcps for o in outcomes if o.rcps is not None]
    if rcps:
        result["ResourceControlPolicyDecisionDetail"] = {"AllowedByResourceControlPolicies": all(rcps)}
    if specific:
        per = []
        for o in outcomes:
            r: dict[str, Any] = {"EvalResourceName": o.resource, "EvalResourceDecision": o.decision,
                                 "MatchedStatements": o.matched, "MissingContextValues": sorted(o.missing)}
            if o.cross_account:
                r["EvalDecisionDetails"] = _details(o)
            if o.boundary is not None:
                r["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": o.boundary}
            per.append(r)
        result["ResourceSpecificResults"] = per
    return result


def _context_values(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(("true" if v else "false") if isinstance(v, bool) else str(v) for v in values)


def simulate(sim: Simulation) -> list[dict]:
    """Decide every (action, resource) pair; one EvaluationResult per action."""
    ev = sim.world.evaluator()
    requests = {}
    for resource in sim.resources:
        req = ev.resolve(sim.principal, sim.actions[0], resource, sim.context, sim.session_policy, sim.federating_user)
        for key, value in sim.context.items():
            found = req.context.get(key.lower())
            if found is not None and found[1] != _context_values(value):
                raise unsupported(f"context entry {key}={','.join(_context_values(value))} contradicts the simulated "
                                  f"world, where {found[0]} is {','.join(found[1])}",
                                  "the caller, the resource and their organizations determine this key: "
                                  "change --caller-arn (or the other options) instead")
        requests[resource] = req
    batch = [dict(principal=sim.principal, action=a, resource=r, context=sim.context,
                  session_policy=sim.session_policy, federating_user=sim.federating_user)
             for a in sim.actions for r in sim.resources]
    decisions = sim.world.check_many(batch)
    notes = list(dict.fromkeys(w for d in decisions for w in d.warnings))
    for note in notes:
        print(f"iamlogic: note: {note}", file=sys.stderr)
    results, i = [], 0
    for action in sim.actions:
        outcomes = []
        for resource in sim.resources:
            outcomes.append(_outcome(sim, resource, decisions[i], requests[resource]))
            i += 1
        results.append(_evaluation_result(sim, action, outcomes))
    return results


# ---------------------------------------------------------------------------------------------
# Output


def _statement_text(m: dict) -> str:
    where = ""
    if "StartPosition" in m:
        where = f" {m.get('SourceFile', '')}{':' if 'SourceFile' in m else ''}" \
                f"{m['StartPosition']['Line']}:{m['StartPosition']['Column']}"
    sid = f" Sid {m['Sid']!r}" if "Sid" in m else ""
    return f"{m['SourcePolicyId']} ({m['SourcePolicyType']}){sid}{where}"


def _several(result: dict) -> list[dict]:
    per = result.get("ResourceSpecificResults", [])
    return per if len(per) > 1 else []


def render_text(results: list[dict]) -> str:
    """A readable table: one row per action (and per resource), then the details of each."""
    rows = [("ACTION", "RESOURCE", "DECISION")]
    for r in results:
        rows.append((r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]))
        for s in _several(r):
            rows.append(("", "  " + s["EvalResourceName"], s["EvalResourceDecision"]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows[:1]]
    lines.append("  ".join("-" * w for w in widths))
    row = 1
    for r in results:
        block = [rows[row]]
        row += 1
        for _ in _several(r):
            block.append(rows[row])
            row += 1
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in block]
        per = _several(r) or [{"EvalResourceName": "", "MatchedStatements": r["MatchedStatements"]}]
        for s in per:
            on = f" on {s['EvalResourceName']}" if s["EvalResourceName"] else ""
            for m in s["MatchedStatements"]:
                lines.append(f"    matched{on}: {_statement_text(m)}")
        if r["MissingContextValues"]:
            lines.append("    missing context: " + ", ".join(r["MissingContextValues"]))
        for key, field_ in (("OrganizationsDecisionDetail", "AllowedByOrganizations"),
                            ("PermissionsBoundaryDecisionDetail", "AllowedByPermissionsBoundary"),
                            ("ResourceControlPolicyDecisionDetail", "AllowedByResourceControlPolicies")):
            if key in r:
                lines.append(f"    {field_}: {str(r[key][field_]).lower()}")
        if r.get("EvalDecisionDetails"):
            lines.append("    by policy type: " + ", ".join(f"{k}={v}" for k, v in r["EvalDecisionDetails"].items()))
    return "\n".join(lines)


def _emit(results: list[dict], output: str) -> int:
    if output == "text":
        print(render_text(results))
    else:
        print(json.dumps({"EvaluationResults": results}, indent=4))
    return EXIT_OK if all(r["EvalDecision"] == "allowed" for r in results) else EXIT_DENIED


def cmd_simulate_custom_policy(args) -> int:
    return _emit(simulate(build_custom(args)), args.output)


def cmd_simulate_principal_policy(args) -> int:
    return _emit(simulate(build_principal(args)), args.output)


# ---------------------------------------------------------------------------------------------
# The commands


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--action-names", nargs="+", required=True, metavar="ACTION",
                   help="actions to simulate, service:ActionName (no wildcards, as in AWS)")
    p.add_argument("--resource-arns", nargs="+", metavar="ARN",
                   help="resources to simulate each action on (default: *)")
    p.add_argument("--context-entries", nargs="+", metavar="ENTRY",
                   help="ContextKeyName=KEY,ContextKeyValues=V1,V2,ContextKeyType=TYPE (repeat for more keys), "
                        "or a JSON list of {ContextKeyName, ContextKeyValues, ContextKeyType}, or file://JSON; "
                        "without a type the catalog's type is used (else string, stringList for several values)")
    p.add_argument("--output", choices=("json", "text"), default="json")
    for opt in ("--resource-handling-option", "--max-items", "--starting-token", "--page-size", "--marker"):
        p.add_argument(opt, help=argparse.SUPPRESS)


def add_commands(sub) -> None:
    """Register the simulator commands on the CLI's sub-parsers."""
    c = sub.add_parser(
        "simulate-custom-policy",
        help="offline `aws iam simulate-custom-policy` (exit 0 all allowed, 2 any denied, 3 invalid)",
        description="Decide actions on resources for policies given as JSON, as `aws iam simulate-custom-policy` "
                    "does, offline; with extensions for SCPs, RCPs, session policies and any kind of caller.")
    c.add_argument("--policy-input-list", nargs="+", metavar="POLICY",
                   help="identity-based policies of the caller: JSON text or file://path")
    c.add_argument("--permissions-boundary-policy-input-list", nargs="+", metavar="POLICY",
                   help="the permissions boundary of the caller (one document)")
    _common(c)
    c.add_argument("--resource-policy", metavar="POLICY", help="the resource-based policy of every resource")
    c.add_argument("--resource-owner", metavar="ACCOUNT",
                   help="account id or arn:aws:iam::ACCOUNT:root owning resources whose ARN names no account "
                        "(default: the caller's account)")
    c.add_argument("--caller-arn", metavar="PRINCIPAL",
                   help="the caller: IAM user or role ARN, assumed-role session ARN, federated-user ARN, account "
                        "root ARN, service principal, or anonymous (default: the IAM user aws:PrincipalArn "
                        "or user/aws:username of --context-entries, else user/simulated-caller, in the account "
                        "of aws:PrincipalAccount, --resource-owner or the resource ARNs, else 123456789012)")
    x = c.add_argument_group("iamlogic extensions")
    x.add_argument("--session-policy", action="append", metavar="POLICY",
                   help="the session policy of a role or federated-user session")
    x.add_argument("--scp-levels", metavar="JSON",
                   help="SCPs of the caller's account: a JSON array of levels, root first and the account last, "
                        "each an array of policy documents; FullAWSAccess is detached everywhere, so an empty "
                        "level denies everything")
    x.add_argument("--rcp-levels", metavar="JSON",
                   help="RCPs of the resource's account, as --scp-levels (RCPFullAWSAccess stays attached)")
    x.add_argument("--management-account", action="store_true",
                   help="the caller's account is its organization's management account (no SCP applies)")
    x.add_argument("--resource-management-account", action="store_true",
                   help="the resource's account is its organization's management account (no RCP applies)")
    x.add_argument("--service-linked-role", action="store_true", help="the caller's role is service-linked")
    x.add_argument("--caller-role-arn", metavar="ARN", help="the role of an assumed-role session caller (its path)")
    x.add_argument("--federating-user-arn", metavar="ARN",
                   help="the IAM user that called GetFederationToken, for a federated-user caller")
    x.add_argument("--caller-tags", nargs="+", metavar="Key=K,Value=V", help="tags of the caller's user or role")
    x.add_argument("--resource-tags", nargs="+", metavar="Key=K,Value=V", help="tags of every resource (of an S3 object: s3:ExistingObjectTag; "
                   "an S3 bucket's count as aws:ResourceTag only with ABAC enabled: --bucket-abac)")
    x.add_argument("--bucket-abac", action="store_true",
                   help="the S3 buckets of --resource-arns have ABAC enabled (PutBucketAbac): S3 evaluates "
                        "aws:ResourceTag against their --resource-tags")
    x.add_argument("--caller-org-id", metavar="ORG", help="the organization of the caller's account")
    x.add_argument("--resource-org-id", metavar="ORG", help="the organization of the resources' account")
    c.set_defaults(run=cmd_simulate_custom_policy)

    p = sub.add_parser(
        "simulate-principal-policy",
        help="offline `aws iam simulate-principal-policy` against a world (exit 0 all allowed, 2 any denied)",
        description="Decide actions on resources for a user or role of a world, with the output of "
                    "`aws iam simulate-principal-policy`.")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--policy-source-arn", required=True, metavar="ARN", help="the IAM user or role to simulate")
    _common(p)
    for opt in ("--policy-input-list", "--permissions-boundary-policy-input-list"):
        p.add_argument(opt, nargs="+", help=argparse.SUPPRESS)
    for opt in ("--resource-policy", "--resource-owner", "--caller-arn"):
        p.add_argument(opt, help=argparse.SUPPRESS)
    p.set_defaults(run=cmd_simulate_principal_policy)
