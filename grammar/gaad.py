"""World models from IAM's account authorization details (``aws iam get-account-authorization-details``).

The output of that API (as the AWS CLI writes it, or with its policy documents URL-encoded, as the
API returns them) lists one account's users, groups, roles and managed policies
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html). Each
file becomes one account of a world:

- users: name, path, unique id (``AIDA…``), tags, groups, inline and attached policies, boundary;
- groups: name, path, inline and attached policies;
- roles: name, path, unique id (``AROA…``), tags, trust policy, inline and attached policies,
  boundary; a role under the path ``/aws-service-role/`` is service-linked;
- managed policies: the default version of each (its other versions do not take part in a
  decision). Customer-managed ones become policies of the account, AWS-managed ones ``aws policy``.

Read and not kept, because no decision reads them: ``CreateDate``, ``RoleLastUsed``,
``InstanceProfileList``, the ids of groups and policies, ``AttachmentCount``,
``PermissionsBoundaryUsageCount``, ``IsAttachable``, ``Description``, ``UpdateDate``, the versions
that are not the default. A key outside these is a warning (W902): it is not imported.

The export holds no resource-based policy (other than trust policies), no SCP, RCP or session
policy: a world adds them in ``.iaml`` files of its own (``import`` the one written here).

Fails closed (E9xx, at the file's line and column): a truncated export, a policy attached but not
in the file (an export filtered to some entity types, or a policy used only as a permissions
boundary, which some exports leave out), two accounts in one file, an AWS-managed policy whose
document differs between two files, and a customer-managed policy that has the name of an
AWS-managed one the account also uses (the world names policies by name). An account in two files
is the world's E310. A managed
policy keeps its path: its ARN in the world is ``arn:aws:iam::ACCOUNT:policy/PATH/NAME``, as in AWS.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Mapping, Sequence
from urllib.parse import unquote

from .ast import Account, Group, NamedPolicy, Policy, Role, User, WorldModel
from .diagnostics import Diagnostics, InvalidInput, Span, read_text
from .json_policy import JArray, JObject, JScalar, JValue, parse_json, parse_policy_text, policy_from_value

__all__ = ["authorization_details", "authorization_details_model", "is_authorization_details", "merge_exports"]

_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}|aws):(user|group|role|policy)(/(?:.*/)?)([^/]+)")
_SERVICE_LINKED_PATH = "/aws-service-role/"
_KNOWN = {
    "": {"UserDetailList", "GroupDetailList", "RoleDetailList", "Policies", "IsTruncated", "Marker"},
    "user": {"Path", "UserName", "UserId", "Arn", "CreateDate", "UserPolicyList", "GroupList",
             "AttachedManagedPolicies", "PermissionsBoundary", "Tags"},
    "group": {"Path", "GroupName", "GroupId", "Arn", "CreateDate", "GroupPolicyList", "AttachedManagedPolicies"},
    "role": {"Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument", "InstanceProfileList",
             "RolePolicyList", "AttachedManagedPolicies", "PermissionsBoundary", "Tags", "RoleLastUsed"},
    "policy": {"PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
               "PermissionsBoundaryUsageCount", "IsAttachable", "Description", "CreateDate", "UpdateDate",
               "PolicyVersionList", "Tags"},
}


def is_authorization_details(value: JValue | None) -> bool:
    """Whether a JSON document is an export of account authorization details (not a policy)."""
    return isinstance(value, JObject) and value.get("Statement") is None and any(
        value.get(k) is not None for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"))


def authorization_details(text: str, path: str, names: Mapping[str, str] | None = None
                          ) -> tuple[WorldModel, Diagnostics]:
    """The world model of one export (its account, and the AWS-managed policies it holds), and
    every problem found (``names``: account id -> the account's name in the world, the id by
    default)."""
    diags = Diagnostics()
    value, json_diags = parse_json(text, path)
    diags.extend(json_diags)
    if value is None:
        return WorldModel(), diags
    reader = _Reader(path, diags)
    account = reader.account(value, names or {})
    return WorldModel(accounts=(account,) if account else (), aws_policies=tuple(reader.aws_policies)), diags


def authorization_details_model(paths: Sequence[str], names: Mapping[str, str] | None = None,
                                sources: dict[str, str] | None = None) -> tuple[WorldModel, Diagnostics]:
    """The world model of several exports, one account each, and every problem found; each
    file's text is added to ``sources``. An AWS-managed policy that several exports hold is kept
    once (E905 when its documents differ)."""
    diags = Diagnostics()
    parts = []
    for path in paths:
        try:
            text = read_text(path, "E320")
        except InvalidInput as exc:
            diags.extend(exc.diagnostics)
            continue
        if sources is not None:
            sources[path] = text
        model, found = authorization_details(text, path, names)
        diags.extend(found)
        parts.append(model)
    model = merge_exports(WorldModel(), parts, diags)
    return model, diags


def merge_exports(model: WorldModel, exports: Iterable[WorldModel], diags: Diagnostics) -> WorldModel:
    """``model`` with the accounts and AWS-managed policies of exports added: a policy already
    there with the same document is not added again; another document is E905.

    An account of an export that ``model`` declares too (by its id) is one account: its name, tags,
    resources, identity pools and usage from ``model``, which exports do not hold; its users,
    groups, roles and policies from the export (E908 when ``model`` declares some as well)."""
    accounts, aws = list(model.accounts), list(model.aws_policies)
    declared = {a.id: i for i, a in enumerate(accounts)}
    seen: dict[str, NamedPolicy] = {}
    for p in aws:
        seen.setdefault(p.name, p)
    for export in exports:
        for acct in export.accounts:
            i = declared.get(acct.id)
            if i is None:
                accounts.append(acct)
                continue
            mine = accounts[i]
            if mine.users or mine.groups or mine.roles or mine.policies:
                diags.add("E908", f"account {acct.id} declares users, groups, roles or policies, and so does the "
                                  f"export at {acct.span}: an account's IAM comes from one of them", mine.span,
                          "declare in .iaml what the export does not hold: tags, resources, identity pools, usage")
            accounts[i] = replace(mine, users=acct.users, groups=acct.groups, roles=acct.roles,
                                  policies=acct.policies)
            declared.pop(acct.id)  # a second export of the account is E310, from the world's checks

        for p in export.aws_policies:
            first = seen.setdefault(p.name, p)
            if first is p:
                aws.append(p)
            elif first.document != p.document:
                diags.add("E905", f"AWS-managed policy {p.name} differs from the one at {first.span} (exported at "
                                  "another time?)", p.span, "export the accounts again, at one time")
    return replace(model, accounts=tuple(accounts), aws_policies=tuple(aws))


class _Reader:
    """One export file: its account, and the AWS-managed policies it holds."""

    def __init__(self, file: str, diags: Diagnostics):
        self.file = file
        self.diags = diags
        self.account_id: str | None = None
        self.account_span: Span | None = None
        self.policies: dict[str, tuple[str, str, JObject]] = {}  # ARN -> (account or "aws", name, its object)
        self.documents: dict[str, NamedPolicy | None] = {}  # ARN -> the default version, read on first use
        self.aws_policies: list[NamedPolicy] = []

    # -- the file --------------------------------------------------------------------------------
    def account(self, value: JValue, names: Mapping[str, str]) -> Account | None:
        top = self._object(value, "the export")
        if top is None:
            return None
        errors = len(self.diags.errors)
        if not is_authorization_details(top):
            self.diags.add("E902", "not an export of IAM account authorization details (it has none of "
                                   "UserDetailList, GroupDetailList, RoleDetailList, Policies)", top.span,
                           "a policy document is read where a policy is declared: file \"….json\"")
            return None
        self._unknown(top, "")
        truncated = top.get("IsTruncated")
        if isinstance(truncated, JScalar) and truncated.value is True:
            self.diags.add("E901", "the export is truncated (IsTruncated is true): it lists only part of the account",
                           truncated.span, "export every page (the AWS CLI does unless --max-items is given)")
            return None
        for item, where in self._items(top, "Policies"):
            self._index_policy(item, where)
        for arn in list(self.policies):  # every managed policy, attached or not
            self._managed(arn, None)
        users = [u for u in (self._user(o) for o, _ in self._items(top, "UserDetailList")) if u is not None]
        groups = [g for g in (self._group(o) for o, _ in self._items(top, "GroupDetailList")) if g is not None]
        roles = [r for r in (self._role(o) for o, _ in self._items(top, "RoleDetailList")) if r is not None]
        if self.account_id is None:
            if len(self.diags.errors) == errors:  # (else an entity that would say so has an error)
                self.diags.add("E903", "no user, group, role or customer-managed policy says which account this is",
                               top.span)
            return None
        own = [p for arn, p in self.documents.items() if p is not None and self.policies[arn][0] != "aws"]
        clash = {p.name for p in own} & {p.name for p in self.aws_policies}
        for name in sorted(clash):
            self.diags.add("E906", f"unsupported: customer-managed policy {name} has the name of an AWS-managed "
                                   "policy the account also uses (a world names managed policies by name)",
                           next(p.span for p in own if p.name == name))
        acct = self.account_id
        return Account(acct, names.get(acct, acct), (), tuple(users), tuple(groups), tuple(roles), tuple(own),
                       span=self.account_span)

    # -- entities --------------------------------------------------------------------------------
    def _user(self, o: JObject) -> User | None:
        self._unknown(o, "user")
        name, path = self._named(o, "UserName", "user")
        if name is None:
            return None
        return User(name, path, self._tags(o), tuple(self._strings(o, "GroupList")),
                    self._inline(o, "UserPolicyList"), self._attached(o), self._boundary(o),
                    self._string(o, "UserId"), span=o.span)

    def _group(self, o: JObject) -> Group | None:
        self._unknown(o, "group")
        name, path = self._named(o, "GroupName", "group")
        if name is None:
            return None
        return Group(name, path, self._inline(o, "GroupPolicyList"), self._attached(o), span=o.span)

    def _role(self, o: JObject) -> Role | None:
        self._unknown(o, "role")
        name, path = self._named(o, "RoleName", "role")
        if name is None:
            return None
        trust = o.get("AssumeRolePolicyDocument")
        return Role(name, path, self._tags(o), self._document(trust, f"trust policy of role {name}"),
                    self._inline(o, "RolePolicyList"), self._attached(o), self._boundary(o),
                    path.startswith(_SERVICE_LINKED_PATH), self._string(o, "RoleId"), span=o.span)

    def _named(self, o: JObject, key: str, kind: str) -> tuple[str | None, str]:
        """An entity's name and path, after checking that its ARN is of this file's account."""
        name, path = self._string(o, key), self._string(o, "Path") or "/"
        arn = self._string(o, "Arn")
        if name is None or arn is None:
            self.diags.add("E902", f"a {kind} without {key} or Arn", o.span)
            return None, path
        if not self._partition(arn, o.get("Arn").span):
            return None, path
        m = _ARN.fullmatch(arn)
        if m is None or m.group(2) != kind or m.group(4) != name or m.group(3) != path or m.group(1) == "aws":
            self.diags.add("E902", f"the Arn of {kind} {name} is not arn:aws:iam::ACCOUNT:{kind}{path}{name}: '{arn}'",
                           o.get("Arn").span)
            return None, path
        return (name, path) if self._of_account(m.group(1), o.span) else (None, path)

    def _partition(self, arn: str, span: Span | None) -> bool:
        """E909: an ARN of another partition than ``aws`` (a world's ARNs are of ``aws``)."""
        partition = arn.split(":")[1] if arn.count(":") >= 2 else ""
        if partition.startswith("aws") and partition != "aws":
            self.diags.add("E909", f"unsupported: partition {partition} ('{arn}'); a world's ARNs are of the aws "
                                   "partition", span)
            return False
        return True

    def _of_account(self, acct: str, span: Span | None) -> bool:
        if self.account_id is None:
            self.account_id, self.account_span = acct, span
        elif acct != self.account_id:
            self.diags.add("E903", f"account {acct} in an export of account {self.account_id} (first at "
                                   f"{self.account_span}): one file is one account", span)
            return False
        return True

    def _tags(self, o: JObject) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for tag, where in self._items(o, "Tags"):
            key, value = self._string(tag, "Key"), self._string(tag, "Value")
            if key is None or value is None:
                self.diags.add("E902", f"{where} is not a tag {{\"Key\": …, \"Value\": …}}", tag.span)
            elif any(k.lower() == key.lower() for k, _ in out):
                first = next(k for k, _ in out if k.lower() == key.lower())
                self.diags.add("E910", f"tag key '{key}' is given twice in {where.rsplit('[', 1)[0]}"
                                       + (f" (as '{first}': IAM treats keys that differ only in case as the same key)"
                                          if first != key else ""), tag.span)
            else:
                out.append((key, value))
        return tuple(out)

    # -- policies --------------------------------------------------------------------------------
    def _index_policy(self, o: JObject, where: str) -> None:
        self._unknown(o, "policy")
        arn = self._string(o, "Arn")
        if arn is not None and not self._partition(arn, o.get("Arn").span):
            return
        m = _ARN.fullmatch(arn or "")
        if m is None or m.group(2) != "policy":
            self.diags.add("E902", f"{where} has no managed-policy Arn (arn:aws:iam::ACCOUNT:policy/…)", o.span)
            return
        owner = m.group(1)
        if owner != "aws" and not self._of_account(owner, o.span):
            return
        self.policies[arn] = (owner, m.group(4), o)

    def _managed(self, arn: str, span: Span | None) -> str | None:
        """The name in the world of the managed policy ``arn``, its document read on first use."""
        if arn not in self.documents:
            found = self.policies.get(arn)
            if found is None:
                self.diags.add("E907", f"policy {arn} is attached but not in the export", span,
                               "export without --filter, or with LocalManagedPolicy and AWSManagedPolicy: some "
                               "exports leave out a policy used only as a permissions boundary")
                self.documents[arn] = None
                return None
            owner, name, o = found
            policy = self._default_version(o, name)
            if policy is not None:  # its path is a part of its ARN
                policy = replace(policy, path=self._string(o, "Path") or "/")
            self.documents[arn] = policy
            if policy is not None and owner == "aws":
                self.aws_policies.append(policy)
        policy = self.documents[arn]
        return policy.name if policy is not None else None

    def _default_version(self, o: JObject, name: str) -> NamedPolicy | None:
        default = self._string(o, "DefaultVersionId")
        chosen = []  # the versions marked default, by IsDefaultVersion or DefaultVersionId
        for version, _ in self._items(o, "PolicyVersionList"):
            flag = version.get("IsDefaultVersion")
            if (isinstance(flag, JScalar) and flag.value is True) or (
                    default is not None and self._string(version, "VersionId") == default):
                chosen.append(version)
        if len(chosen) > 1:
            ids = ", ".join(repr(self._string(v, "VersionId")) for v in chosen)
            self.diags.add("E902", f"managed policy {name} has more than one default version ({ids}, by "
                                   "IsDefaultVersion and DefaultVersionId)", o.span)
            return None
        if chosen:
            document = self._document(chosen[0].get("Document"), f"policy {name}")
            return NamedPolicy(name, document, o.span) if document is not None else None
        self.diags.add("E902", f"managed policy {name} has no default version in PolicyVersionList", o.span)
        return None

    def _attached(self, o: JObject) -> tuple[str, ...]:
        names = []
        for item, where in self._items(o, "AttachedManagedPolicies"):
            arn = self._string(item, "PolicyArn")
            if arn is None:
                self.diags.add("E902", f"{where} has no PolicyArn", item.span)
                continue
            name = self._managed(arn, item.span)
            if name is not None:
                names.append(name)
        return tuple(names)

    def _boundary(self, o: JObject) -> str | None:
        boundary = o.get("PermissionsBoundary")
        if boundary is None:
            return None
        arn = self._string(boundary, "PermissionsBoundaryArn") if isinstance(boundary, JObject) else None
        if arn is None:
            self.diags.add("E902", "PermissionsBoundary has no PermissionsBoundaryArn", boundary.span)
            return None
        return self._managed(arn, boundary.span)

    def _inline(self, o: JObject, key: str) -> tuple[NamedPolicy, ...]:
        out = []
        for item, where in self._items(o, key):
            name = self._string(item, "PolicyName")
            document = self._document(item.get("PolicyDocument"), f"inline policy {name}")
            if name is None:
                self.diags.add("E902", f"{where} has no PolicyName", item.span)
            elif document is not None:
                out.append(NamedPolicy(name, document, item.span))
        return tuple(out)

    def _document(self, value: JValue | None, what: str) -> Policy | None:
        """A policy document: a JSON object (the AWS CLI's output), or a string holding it
        URL-encoded (the API's)."""
        if isinstance(value, JScalar) and isinstance(value.value, str):
            text = unquote(value.value)
            policy, diags = parse_policy_text(text, f"{self.file}: {what} (at {value.span})")
            self.diags.extend(diags)
            return policy
        if not isinstance(value, JObject):
            self.diags.add("E902", f"the {what} is not a policy document", value.span if value is not None else None)
            return None
        before = len(self.diags.errors)
        policy = policy_from_value(value, self.file, self.diags)
        return policy if len(self.diags.errors) == before else None

    # -- JSON shapes -----------------------------------------------------------------------------
    def _object(self, value: JValue | None, what: str) -> JObject | None:
        if isinstance(value, JObject):
            return value
        self.diags.add("E902", f"{what} is not a JSON object", value.span if value is not None else None)
        return None

    def _items(self, o: JObject, key: str) -> Iterable[tuple[JObject, str]]:
        """The objects of the list ``o[key]`` (none when it is absent)."""
        value = o.get(key)
        if value is None:
            return
        if not isinstance(value, JArray):
            self.diags.add("E902", f"{key} is not a list", value.span)
            return
        for i, item in enumerate(value.items):
            if self._object(item, f"{key}[{i}]") is not None:
                yield item, f"{key}[{i}]"

    def _string(self, o: JObject, key: str) -> str | None:
        value = o.get(key)
        return value.value if isinstance(value, JScalar) and isinstance(value.value, str) else None

    def _strings(self, o: JObject, key: str) -> list[str]:
        value = o.get(key)
        if value is None:
            return []
        items = value.items if isinstance(value, JArray) else ()
        if not isinstance(value, JArray) or not all(isinstance(i, JScalar) and isinstance(i.value, str) for i in items):
            self.diags.add("E902", f"{key} is not a list of strings", value.span)
            return []
        return [i.value for i in items]

    def _unknown(self, o: JObject, kind: str) -> None:
        for key, span, _ in o.pairs:
            if key not in _KNOWN[kind]:
                self.diags.add("W902", f"'{key}' is not imported: iamlogic does not know what it means here", span)

