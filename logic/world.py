"""Worlds: loading, the builder API, and the checks that need the whole world.

A world is what iamlogic reasons over: organizations (root, OUs, SCPs and RCPs), accounts, and
the users, groups, roles, policies and resources in them. :func:`load` reads ``.iaml`` files
(and the ``.json`` policy files they reference); :class:`World` builds the same value by calls.

>>> w = World()
>>> acct = w.add_account("111122223333", "dev")
>>> _ = acct.add_policy("ReadOnly", {"Version": "2012-10-17",
...     "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
>>> _ = acct.add_user("alice", attach=["ReadOnly"])
>>> [d.code for d in w.diagnostics() if d.is_error]
[]
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Iterable

from .grammar import ast
from .grammar.arn import parse_arn
from .matching import context_values
from .grammar.ast import Account, AccountRef, Attachment, Group, NamedPolicy, Organization, OrgNode, Policy, RcpServices, Resource, Role, User, WorldModel
from .catalog import RCP_SERVICES, Catalog
from .grammar.diagnostics import Diagnostic, Diagnostics, InvalidInput, Span, did_you_mean
from .grammar.json_policy import parse_policy_text
from .grammar.printer import print_world
from .grammar.world import load_world_files
from .validate import validate_policy

#: The SCP AWS Organizations attaches to every root, OU and account by default.
FULL_AWS_ACCESS = "FullAWSAccess"
#: The RCP attached to every root, OU and account; it cannot be detached.
RCP_FULL_AWS_ACCESS = "RCPFullAWSAccess"
#: OUs nest at most five levels below the root (AWS Organizations quotas).
MAX_OU_DEPTH = 5

BUILTIN_POLICIES: dict[str, tuple[str, Policy]] = {
    FULL_AWS_ACCESS: ("scp", Policy((ast.Statement("Allow", action=("*",), resource=("*",)),))),
    RCP_FULL_AWS_ACCESS: ("rcp", Policy((ast.Statement(
        "Allow", action=("*",), resource=("*",), principal=(ast.Principal("AWS", "*"),)),))),
}
BUILTIN_POLICY_IDS = {FULL_AWS_ACCESS: "p-FullAWSAccess", RCP_FULL_AWS_ACCESS: "p-RCPFullAWSAccess"}

_ACCOUNT_ID = re.compile(r"[0-9]{12}")
# the forms of the ids AWS Organizations gives (Organizations API reference: Organization, Root,
# OrganizationalUnit): an id is a segment of aws:PrincipalOrgPaths, and two levels never share one
_ORG_IDS = {"organization": re.compile(r"o-[a-z0-9]{10,32}"), "root": re.compile(r"r-[0-9a-z]{4,32}"),
            "OU": re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")}
_CHECK_RUN = 1024  # requests check_many gives Evaluator.decide_many at a time (whole runs of a principal and action)


def runs(items: list, size: int, key: Callable[[Any], Any]) -> list[list]:
    """``items`` cut into runs of at least ``size`` (but the last), each ending where ``key``
    changes: requests sorted by principal and action, cut so that those of one principal and
    action stay together (they are decided together)."""
    out, start = [], 0
    while start < len(items):
        end = min(start + size, len(items))
        while end < len(items) and key(items[end]) == key(items[end - 1]):
            end += 1
        out.append(items[start:end])
        start = end
    return out


def user_arn(acct: str, u: User) -> str:
    return f"arn:aws:iam::{acct}:user{u.path}{u.name}"


def role_arn(acct: str, r: Role) -> str:
    return f"arn:aws:iam::{acct}:role{r.path}{r.name}"


def group_arn(acct: str, g: Group) -> str:
    return f"arn:aws:iam::{acct}:group{g.path}{g.name}"


def root_arn(acct: str) -> str:
    return f"arn:aws:iam::{acct}:root"


def managed_policy_arn(acct: str | None, name: str, path: str = "/") -> str:
    """``arn:aws:iam::ACCT:policy/PATH/NAME``; AWS-managed policies use ``aws`` as the account."""
    return f"arn:aws:iam::{acct or 'aws'}:policy{path}{name}"


def _short_hash(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


@dataclass
class Placement:
    org: Organization
    node_id: str  # the id of the root or OU the account sits under
    ref: AccountRef | None  # None: the management account, placed at the root implicitly


@dataclass
class IdentityIndex:
    """An organization's IAM Identity Center, resolved: its identities (by name, with the directory
    they come from: "" for Identity Center's own), memberships, directories, the roles it provisions
    (role ARN -> permission set, account) and its assignments (permission set, "user" | "group",
    name, account id)."""

    attributes: tuple[str, ...]
    users: dict[str, tuple[ast.IdentityUser, str]] = field(default_factory=dict)
    groups: dict[str, tuple[ast.IdentityGroup, str]] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)
    directories: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)  # name, type, of, link
    roles: dict[str, tuple[str, str]] = field(default_factory=dict)
    assignments: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass
class Resolved:
    """Indexes over a world model, shared by the checks and the compiler."""

    model: WorldModel
    accounts: dict[str, Account] = field(default_factory=dict)  # by id
    account_by_name: dict[str, Account] = field(default_factory=dict)
    placement: dict[str, Placement] = field(default_factory=dict)  # account id -> where it sits
    node_ids: dict[int, str] = field(default_factory=dict)  # id(OrgNode) -> node id
    nodes: dict[str, OrgNode] = field(default_factory=dict)  # node id -> OrgNode
    node_parent: dict[str, str] = field(default_factory=dict)  # OU id -> parent node id
    org_policies: dict[tuple[str, str, str], NamedPolicy] = field(default_factory=dict)  # (org, kind, name)
    aws_policies: dict[str, NamedPolicy] = field(default_factory=dict)
    identity: dict[str, "IdentityIndex"] = field(default_factory=dict)  # org id -> its IAM Identity Center
    pools: dict[str, tuple[Account, ast.IdentityPool]] = field(default_factory=dict)  # identity pool id -> its pool
    # an identity that is a user of a user pool -> (its provider, the user: "POOL-ID/NAME")
    identity_users: dict[str, tuple[str, str]] = field(default_factory=dict)
    rcp_services: tuple[str, ...] = ()  # the service prefixes whose resources RCPs restrict (lower case)

    def account_ref(self, ref: str) -> Account | None:
        return self.accounts.get(ref) or self.account_by_name.get(ref)

    def managed_policy(self, acct: Account, name: str) -> tuple[str, NamedPolicy] | None:
        """Resolve an attached policy name: the account's own policies first, then AWS-managed ones."""
        for p in acct.policies:
            if p.name == name:
                return managed_policy_arn(acct.id, name, p.path), p
        if name in self.aws_policies:
            return managed_policy_arn(None, name, self.aws_policies[name].path), self.aws_policies[name]
        return None

    def org_policy(self, org: Organization, kind: str, name: str) -> tuple[str, NamedPolicy] | None:
        builtin = BUILTIN_POLICIES.get(name)
        if builtin and builtin[0] == kind:
            return BUILTIN_POLICY_IDS[name], NamedPolicy(name, builtin[1])
        found = self.org_policies.get((org.id, kind, name))
        return (f"{org.id}/{kind}/{name}", found) if found else None


def _rcp_services(model: WorldModel, d: Diagnostics) -> tuple[str, ...]:
    """The service prefixes whose resources RCPs restrict: the world's ``aws rcp_services``, else
    the list iamlogic ships."""
    if not model.rcp_services:
        return tuple(prefix for prefix, _ in RCP_SERVICES)
    first, *more = model.rcp_services
    for extra in more:
        d.add("E345", f"aws rcp_services is declared twice (first at {first.span})", extra.span)
    catalog = Catalog.default()
    out: dict[str, None] = {}
    for service in first.services:
        prefix = service.lower()
        if prefix in out:
            d.add("E345", f"service '{service}' is listed twice in aws rcp_services", first.span)
        elif not catalog.has_service(prefix):
            d.add("W303", f"unknown service prefix '{service}' in aws rcp_services: kept as written", first.span,
                  help=catalog.suggest_service(service))
        out[prefix] = None
    return tuple(out)


def resolve(model: WorldModel, diags: Diagnostics | None = None) -> Resolved:
    """Index a world model, reporting duplicates and unknown references into ``diags``."""
    d = diags if diags is not None else Diagnostics()
    r = Resolved(model)
    for a in model.accounts:
        if not _ACCOUNT_ID.fullmatch(a.id):
            d.add("E332", f"account id '{a.id}' is not 12 digits", a.span)
        if a.id in r.accounts:
            d.add("E310", f"account {a.id} is declared twice (first at {r.accounts[a.id].span})", a.span)
            continue
        if a.name in r.account_by_name:
            d.add("E311", f"account name '{a.name}' is used twice (first by {r.account_by_name[a.name].id})", a.span)
        r.accounts[a.id] = a
        r.account_by_name.setdefault(a.name, a)
    for p in model.aws_policies:
        if p.name in r.aws_policies:
            d.add("E322", f"AWS-managed policy '{p.name}' is declared twice", p.span)
        r.aws_policies.setdefault(p.name, p)

    r.rcp_services = _rcp_services(model, d)

    seen_orgs: set[str] = set()
    for org in model.organizations:
        if org.id in seen_orgs:
            d.add("E335", f"organization {org.id} is declared twice", org.span)
            continue
        seen_orgs.add(org.id)
        _check_org_id("organization", org.id, org.span, d)
        for kind, p in org.policies:
            key = (org.id, kind, p.name)
            if key in r.org_policies or p.name in BUILTIN_POLICIES:
                d.add("E322", f"{kind.upper()} '{p.name}' is declared twice in {org.id}", p.span)
            r.org_policies.setdefault(key, p)
        _index_tree(r, org, d)
        mgmt = r.account_ref(org.management)
        if mgmt is None:
            if org.management:
                d.add("E314", f"unknown account '{org.management}'", org.span,
                      help=did_you_mean(org.management, [*r.accounts, *r.account_by_name]))
        elif mgmt.id not in r.placement:
            r.placement[mgmt.id] = Placement(org, r.node_ids[id(org.root)], None)
        elif r.placement[mgmt.id].org is not org:
            d.add("E313", f"account {mgmt.id} is the management account of {org.id} but a member of "
                          f"{r.placement[mgmt.id].org.id}", org.span)
    for org in model.organizations:
        if org.identity_center is not None and org.id not in r.identity:
            _identity_center(r, org, org.identity_center, d)
    for acct in list(r.accounts.values()):
        for pool in acct.identity_pools:
            _identity_pool(r, acct, pool, d)
    return r


#: An identity pool's id, and an identity's: the region, ':' and a GUID (Amazon Cognito API
#: reference, IdentityPoolId and IdentityId: [\w-]+:[0-9a-f-]+).
_COGNITO_ID = re.compile(r"([a-z]{2}(?:-[a-z]+)+-[0-9]+):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: The AWS-managed policy Amazon Cognito applies as a session policy to its guests' sessions in the
#: enhanced flow (AWS managed policy reference: AmazonCognitoUnAuthedIdentitiesSessionPolicy). AWS
#: revises it; a world that has guests declares its current version (aws policy …).
COGNITO_GUEST_POLICY = "AmazonCognitoUnAuthedIdentitiesSessionPolicy"

#: What an identity pool does for an identity that no role-mapping rule matches (Amazon Cognito
#: API reference, RoleMapping.AmbiguousRoleResolution: AuthenticatedRole or Deny).
COGNITO_OTHERWISE = ("authenticated", "deny")


def _check_identity_pool_trust(role: Role, d: Diagnostics) -> None:
    """IAM refuses a trust policy that lets in Amazon Cognito's identity pools without a condition
    on ``cognito-identity.amazonaws.com:aud`` (Amazon Cognito developer guide: iam-roles, "Setting
    up trust policies"; identity-pools-security-best-practices)."""
    for s in role.trust.statements:
        cognito = any(p.type == "Federated" and p.value == "cognito-identity.amazonaws.com" for p in s.principal or ())
        if s.effect == "Allow" and cognito and not any(c.key.lower() == "cognito-identity.amazonaws.com:aud"
                                                       for c in s.conditions):
            d.add("W302", f"the trust policy of role '{role.name}' lets in any identity pool: IAM requires a "
                          "condition on cognito-identity.amazonaws.com:aud", s.span,
                  help='add: when StringEquals "cognito-identity.amazonaws.com:aud" "REGION:POOL-GUID"')


def _identity_pool(r: Resolved, acct: Account, pool: ast.IdentityPool, d: Diagnostics) -> None:
    """Check an identity pool of ``acct`` and index it by its id."""
    m = _COGNITO_ID.fullmatch(pool.id or "")
    if m is None:
        d.add("E342", f"identity pool '{pool.name}' needs an id: its region, ':' and a GUID", pool.span,
              help='add: id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"' if pool.id is None
              else f"{pool.id!r} is not REGION:GUID (lower-case hexadecimal)")
        return
    if pool.id in r.pools:
        d.add("E342", f"identity pool {pool.id} is declared twice (first in account {r.pools[pool.id][0].id})",
              pool.span)
        return
    r.pools[pool.id] = (acct, pool)
    roles = {x.name for x in acct.roles}

    def role(name: str, what: str, span) -> None:
        if name not in roles:
            d.add("E343", f"{what} of identity pool '{pool.name}' is '{name}', not a role of account {acct.id}",
                  span, help=did_you_mean(name, roles))

    for kind in ("authenticated", "unauthenticated"):
        if getattr(pool, kind) is not None:
            role(getattr(pool, kind), f"the {kind} role", pool.span)
    providers = set(pool.providers)
    mapped: set[str] = set()
    for mapping in pool.mappings:
        if mapping.provider not in providers:
            d.add("E343", f"role-mapping rules for '{mapping.provider}', which is not a provider of identity pool "
                          f"'{pool.name}'", mapping.span, help=did_you_mean(mapping.provider, providers))
        if mapping.provider in mapped:
            d.add("E343", f"identity pool '{pool.name}' has two sets of rules for '{mapping.provider}'", mapping.span)
        mapped.add(mapping.provider)
        if mapping.otherwise not in COGNITO_OTHERWISE:
            d.add("E343", f"'otherwise {mapping.otherwise}': when no rule matches, an identity pool gives its "
                          "authenticated role or denies", mapping.span, help="otherwise authenticated | otherwise deny")
        elif mapping.otherwise == "authenticated" and pool.authenticated is None:
            d.add("E343", f"'otherwise authenticated', but identity pool '{pool.name}' has no authenticated role",
                  mapping.span)
        if not mapping.rules:
            d.add("E343", f"role-mapping rules for '{mapping.provider}' without a rule", mapping.span)
        for rule in mapping.rules:
            role(rule.role, "a role-mapping rule's role", rule.span)
    region = m.group(1)
    seen = {i.id for _, other in r.pools.values() if other is not pool for i in other.identities}
    users: dict[tuple[str, str], str] = {}  # (user pool, user) -> its identity in this pool
    for x in pool.identities:
        found = _COGNITO_ID.fullmatch(x.id)
        if found is None or found.group(1) != region:
            d.add("E344", f"identity {x.id!r} of identity pool '{pool.name}' is not {region}:GUID", x.span,
                  help="an identity's id is its pool's region, ':' and a GUID (lower-case hexadecimal)")
        if x.id in seen:
            d.add("E344", f"identity {x.id} is declared twice", x.span)
        seen.add(x.id)
        if x.user is not None:
            if x.user in users:  # an identity pool gives a user pool user one identity
                d.add("E344", f"identities {users[x.user]} and {x.id} are both user '{x.user[1]}' of user pool "
                              f"'{x.user[0]}': an identity pool gives a user one identity", x.span)
            users.setdefault(x.user, x.id)
            provider = _pool_user_identity(r, acct, pool, x, d)
            if provider is not None and provider not in providers:
                d.add("E344", f"identity {x.id} signs in through user pool '{x.user[0]}' ({provider}), which is not "
                              f"a provider of identity pool '{pool.name}'", x.span, help=f"add it: providers {provider!r}")
        elif x.provider is None:
            if not pool.guests:
                d.add("E344", f"identity {x.id} is a guest, but identity pool '{pool.name}' does not allow guests",
                      x.span, help="add 'guests' to the pool (guest access), or give the identity's provider (via …)")
            if x.claims or x.amr:
                d.add("E344", f"guest identity {x.id} has no token: no claims, no amr entries", x.span)
        elif x.provider not in providers:
            d.add("E344", f"identity {x.id} signs in through '{x.provider}', which is not a provider of identity "
                          f"pool '{pool.name}'", x.span, help=did_you_mean(x.provider, providers))


def _pool_user_identity(r: Resolved, acct: Account, pool: ast.IdentityPool, x: ast.PoolIdentity,
                        d: Diagnostics) -> str | None:
    """The provider of an identity that is a user of a user pool of ``acct``
    (``cognito-idp.REGION.amazonaws.com/POOL-ID``), indexed in ``r.identity_users`` with the user;
    None, with E344, when the user pool or the user is not declared. Such an identity's claims are
    the user's attributes, so it declares none; a role-mapping rule on a claim of its own that
    Amazon Cognito adds to user pool tokens (``cognito:groups``, ``cognito:preferred_role``, …) is
    not modelled (E344, unsupported)."""
    pool_name, user_name = x.user
    user_pool = next((p for p in acct.user_pools if p.name == pool_name), None)
    if user_pool is None:
        d.add("E344", f"identity {x.id} is a user of user pool '{pool_name}', which account {acct.id} does not have",
              x.span, help=did_you_mean(pool_name, [p.name for p in acct.user_pools]))
        return None
    if not any(u.name == user_name for u in user_pool.users):
        d.add("E344", f"identity {x.id} is user '{user_name}' of user pool '{pool_name}', which has no such user",
              x.span, help=did_you_mean(user_name, [u.name for u in user_pool.users]))
        return None
    if x.claims:
        d.add("E344", f"identity {x.id} is a user of user pool '{pool_name}': its claims are the user's attributes",
              x.span, help="declare them on the user (attributes { … })")
    if user_pool.id is None or not _POOL_ID.fullmatch(user_pool.id):
        return None  # E352 says so
    provider = f"cognito-idp.{user_pool.id.split('_', 1)[0]}.amazonaws.com/{user_pool.id}"
    for mapping in pool.mappings:
        for rule in mapping.rules:
            if mapping.provider == provider and rule.claim.lower().startswith("cognito:"):
                d.add("E344", f"unsupported: a role-mapping rule on {rule.claim}, a claim Amazon Cognito adds to the "
                              f"tokens of user pool '{pool_name}', which the world does not model", rule.span,
                      help="map roles on the users' attributes (custom:…)")
    r.identity_users[x.id] = (provider, f"{user_pool.id}/{user_name}")
    return provider


#: The path of the roles IAM Identity Center provisions, named AWSReservedSSO_… (IAM Identity Center
#: user guide, using-service-linked-roles: its service-linked role manages the roles "on the path
#: /aws-reserved/sso.amazonaws.com/ and with the name prefix AWSReservedSSO_").
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"


def sso_role_name(org_id: str, permission_set: str) -> str:
    """``AWSReservedSSO_<permission set>_<16 hex digits>``: AWS draws the suffix; here it is a hash of
    the organization and the permission set, the same in every account."""
    return f"AWSReservedSSO_{permission_set}_{_short_hash(f'{org_id}/{permission_set}', 16)}"


def _identity_center(r: Resolved, org: Organization, center: ast.IdentityCenter, d: Diagnostics) -> None:
    """Index an organization's IAM Identity Center and add the roles it provisions to the accounts
    its permission sets are assigned in."""
    idx = r.identity[org.id] = IdentityIndex(tuple(center.attributes))
    source = center.directory
    pools: list[tuple[str, tuple, tuple]] = []  # (directory, users, groups)
    if source is None:
        pools.append(("", center.users, center.groups))
    else:
        if center.users or center.groups:
            d.add("E339", "with a directory as the identity source, its users and groups are managed in the "
                          "directory, not in IAM Identity Center", (center.users + center.groups)[0].span)
        if source.type in ("simple_ad", "self_managed"):
            d.add("E339", f"IAM Identity Center cannot use a {source.type.replace('_', '-')} directory as its "
                          "identity source", source.span,
                  help="Simple AD is not supported; a self-managed AD connects through an AD Connector "
                       "(ad_connector with connects) or a two-way trust with AWS Managed Microsoft AD (managed_ad "
                       "with trust) (IAM Identity Center user guide: manage-your-identity-source-ad)")
        idx.directories.append((source.name, source.type, None, None))
        pools.append((source.name, source.users, source.groups))
        for link in source.links:
            allowed = {"managed_ad": "trust", "ad_connector": "connects"}.get(source.type)
            if link.link != allowed:
                d.add("E339", f"a {source.type} directory cannot have a '{link.link}' link", link.span,
                      help="a managed_ad directory trusts self-managed ones (trust); an ad_connector connects "
                           "to one (connects)")
            idx.directories.append((link.name, link.type, source.name, link.link))
            pools.append((link.name, link.users, link.groups))
        if source.type == "ad_connector" and sum(1 for link in source.links if link.link == "connects") != 1:
            d.add("E339", "an AD Connector connects to exactly one self-managed directory", source.span,
                  help='add: connects "corp.example.com" { user … group … }')
    for directory, users, groups in pools:
        for g in groups:
            if g.name in idx.groups:
                d.add("E340", f"Identity Center group '{g.name}' is declared twice", g.span)
                continue
            idx.groups[g.name] = (g, directory)
        for u in users:
            if u.name in idx.users:
                d.add("E340", f"Identity Center user '{u.name}' is declared twice", u.span)
                continue
            idx.users[u.name] = (u, directory)
    for u, directory in idx.users.values():
        for g in u.groups:
            found = idx.groups.get(g)
            if found is None or found[1] != directory:
                d.add("E340", f"unknown group '{g}' in the directory of user '{u.name}'", u.span,
                      help=did_you_mean(g, [n for n, (_, dr) in idx.groups.items() if dr == directory]))
                continue
            idx.members.add((u.name, g))
    sets: dict[str, ast.PermissionSet] = {}
    for ps in center.permission_sets:
        if ps.name in sets:
            d.add("E340", f"permission set '{ps.name}' is declared twice", ps.span)
            continue
        sets[ps.name] = ps
    provisioned: dict[str, dict[str, Role]] = {}  # account id -> role name -> role
    for a in center.assignments:
        ps = sets.get(a.permission_set)
        if ps is None:
            d.add("E340", f"unknown permission set '{a.permission_set}'", a.span, help=did_you_mean(a.permission_set, sets))
            continue
        names = idx.users if a.kind == "user" else idx.groups
        if a.name not in names:
            d.add("E340", f"unknown Identity Center {a.kind} '{a.name}'", a.span, help=did_you_mean(a.name, names))
            continue
        for ref in a.accounts:
            acct = r.account_ref(ref)
            place = r.placement.get(acct.id) if acct is not None else None
            if acct is None or place is None or place.org is not org:
                d.add("E341", f"'{ref}' is not an account of organization {org.id}: IAM Identity Center assigns "
                              "permission sets in the organization's accounts", a.span,
                      help=did_you_mean(ref, [*r.accounts, *r.account_by_name]) if acct is None else None)
                continue
            idx.assignments.append((ps.name, a.kind, a.name, acct.id))
            name = sso_role_name(org.id, ps.name)
            roles = provisioned.setdefault(acct.id, {})
            if name not in roles:
                provider = f"arn:aws:iam::{acct.id}:saml-provider/AWSSSO_{_short_hash(org.id, 16)}_DO_NOT_DELETE"
                trust = Policy((ast.Statement("Allow", action=("sts:AssumeRoleWithSAML", "sts:TagSession"),
                                              principal=(ast.Principal("Federated", provider),),
                                              conditions=(ast.Condition("StringEquals", "SAML:aud",
                                                                        ("https://signin.aws.amazon.com/saml",)),)),))
                roles[name] = Role(name, SSO_ROLE_PATH, (), trust, ps.inline, ps.managed, ps.boundary, span=a.span)
                idx.roles[role_arn(acct.id, roles[name])] = (ps.name, acct.id)
    for acct_id, roles in provisioned.items():
        acct = r.accounts[acct_id]
        taken = {x.name for x in acct.roles}
        for name in roles:
            if name in taken:
                d.add("E340", f"account {acct_id} declares role {name}, which IAM Identity Center provisions",
                      roles[name].span)
        new = replace(acct, roles=acct.roles + tuple(x for n, x in roles.items() if n not in taken))
        r.accounts[acct_id] = new
        if r.account_by_name.get(acct.name) is acct:
            r.account_by_name[acct.name] = new


def _index_tree(r: Resolved, org: Organization, d: Diagnostics) -> None:
    root_id = org.root.id or f"r-{_short_hash(org.id, 4)}"
    if org.root.id:
        _check_org_id("root", org.root.id, org.root.span, d)

    def walk(node: OrgNode, node_id: str, parent: str | None, depth: int, path: str) -> None:
        r.node_ids[id(node)] = node_id
        if node_id in r.nodes:  # a level's SCPs and place would be another's (and its parent, itself)
            first = r.nodes[node_id]
            if node.id or first.id or parent is None or first.name != node.name:  # (else E334: one name twice)
                d.add("E358", f"{node_id} is the id of two levels of organizations: '{first.name}' and "
                              f"'{node.name}'", node.span)
            return
        r.nodes[node_id] = node
        if parent is not None:
            r.node_parent[node_id] = parent
        if depth > MAX_OU_DEPTH:
            d.add("E318", f"OU '{node.name}' is {depth} levels below the root; AWS allows {MAX_OU_DEPTH}", node.span)
        _check_attachments(r, org, node.attachments, d)
        for ref in node.accounts:
            acct = r.account_ref(ref.ref)
            if acct is None:
                d.add("E314", f"unknown account '{ref.ref}'", ref.span,
                      help=did_you_mean(ref.ref, [*r.accounts, *r.account_by_name]))
                continue
            _check_attachments(r, org, ref.attachments, d)
            prev = r.placement.get(acct.id)
            if prev is not None:
                if prev.org is org:
                    d.add("E312", f"account {acct.id} ('{acct.name}') is placed twice in {org.id}"
                                  + (f" (first at {prev.ref.span})" if prev.ref and prev.ref.span else ""), ref.span)
                else:
                    d.add("E313", f"account {acct.id} ('{acct.name}') is placed in two organizations: "
                                  f"{prev.org.id} and {org.id}", ref.span)
                continue
            r.placement[acct.id] = Placement(org, node_id, ref)
        names: set[str] = set()
        for child in node.children:
            if child.name in names:
                d.add("E334", f"two OUs called '{child.name}' under the same parent", child.span)
            names.add(child.name)
            child_path = f"{path}/{child.name}"
            if child.id:
                _check_org_id("OU", child.id, child.span, d)
            child_id = child.id or f"ou-{root_id[2:6]}-{_short_hash(org.id + child_path, 8)}"
            walk(child, child_id, node_id, depth + 1, child_path)

    walk(org.root, root_id, None, 0, "")


def _check_org_id(kind: str, value: str, span, d: Diagnostics) -> None:
    form = _ORG_IDS[kind]
    if not form.fullmatch(value):
        d.add("E358", f"{kind} id {value!r} is not of the form AWS Organizations gives ({form.pattern})", span)


def _check_attachments(r: Resolved, org: Organization, atts: Iterable[Attachment], d: Diagnostics) -> None:
    for a in atts:
        if a.kind == "tag_policy":
            if not any(t.name == a.policy for t in org.tag_policies):
                d.add("E323", f"unknown tag policy '{a.policy}'", a.span,
                      help=did_you_mean(a.policy, [t.name for t in org.tag_policies]))
            continue
        if a.detach and a.policy != FULL_AWS_ACCESS:
            d.add("E324", f"only {FULL_AWS_ACCESS} can be detached; '{a.policy}' is attached only where "
                          "the world says so", a.span)
            continue
        if r.org_policy(org, a.kind, a.policy) is None:
            names = [n for (o, k, n) in r.org_policies if o == org.id and k == a.kind]
            names += [n for n, (k, _) in BUILTIN_POLICIES.items() if k == a.kind]
            d.add("E323", f"unknown {a.kind.upper()} '{a.policy}'", a.span, help=did_you_mean(a.policy, names))


def _request_key(principal: str, action: str, resource: str, context, federating_user) -> tuple:
    """The request as given, as a key of the decision cache. Context values that are not strings
    are keyed as the evaluator reads them (``True`` and ``1`` differ), so two requests share a key
    only when they are the same request (the same context given in another key order is another
    key: a miss, never a wrong answer). Requests with a session policy are not cached."""
    # one flat tuple (the context as key, value, key, value…): a flat tuple of strings is one the
    # garbage collector stops tracking at its first pass
    key = [principal, action, resource, federating_user]
    if context:
        for k, v in context.items():
            key += (k, v if type(v) is str else context_values(v, k))
    return tuple(key)


def check_world(model: WorldModel) -> list[Diagnostic]:
    """Every problem of a whole world: references, duplicates, placements, and each policy by its kind."""
    d = Diagnostics()
    r = resolve(model, d)
    for org in model.organizations:
        for kind, p in org.policies:
            d.extend(validate_policy(p.document, kind, rcp_services=r.rcp_services))
    if _reads_resource_tags(model):
        for acct in model.accounts:
            for res in acct.resources:
                if res.tags and not res.abac and S3_BUCKET.fullmatch(res.arn):
                    d.add("W308", f"S3 bucket {res.arn} has tags, and policies of the world read aws:ResourceTag, but "
                                  "ABAC is not enabled on the bucket: S3 does not evaluate aws:ResourceTag against its "
                                  "tags", res.span, "declare abac in the bucket if ABAC is enabled on it in AWS "
                                                    "(simulate-custom-policy: --bucket-abac)")
    for acct in model.accounts:
        for item in (*acct.users, *acct.roles, *acct.resources):
            _check_tags(item.tags, item.span, d)
    for p in model.aws_policies:
        d.extend(validate_policy(p.document, "identity"))
        _check_iam_name("AWS managed policy", "policy", p.name, p.span, d)
        if not IAM_PATH.fullmatch(p.path):
            d.add("E357", f"the path {p.path!r} of AWS managed policy '{p.name}' is not an IAM path: / or /…/", p.span,
                  "write it /service-role/ (a slash at each end)")
    ids: dict[str, str] = {}
    for acct in r.accounts.values():
        _check_account(r, acct, d)
        for kind, items in (("user", acct.users), ("role", acct.roles)):
            for item in items:
                if item.unique_id is None:
                    continue
                where = f"{kind} {item.name} of account {acct.id}"
                if item.unique_id in ids and ids[item.unique_id] != where:
                    d.add("E337", f"unique id {item.unique_id} is declared for {ids[item.unique_id]} and {where}",
                          item.span)
                ids.setdefault(item.unique_id, where)
    _check_objects(r, d)
    _check_billing(model, r, d)
    _check_logging(r, d)
    _check_user_pools(r, d)
    for org in model.organizations:
        seen_policies: set[str] = set()
        for t in org.tag_policies:
            if t.name in seen_policies:
                d.add("E348", f"tag policy '{t.name}' is declared twice in organization {org.id}", t.span)
            seen_policies.add(t.name)
            keys = [k.key.lower() for k in t.keys]
            for k in t.keys:
                if keys.count(k.key.lower()) > 1:
                    d.add("E348", f"tag key '{k.key}' is given twice in tag policy '{t.name}' (keys are compared "
                                  "without case)", k.span)
    # A policy may be reported through two paths (attached and used as a boundary): keep one of each.
    unique = list(dict.fromkeys(d.items))
    return unique


def _check_objects(r: Resolved, d: Diagnostics) -> None:
    """E354: an S3 object declared with a resource-based policy (its bucket's policy governs it), or
    in another account than its declared bucket (the bucket's owner owns its objects here). E355: an
    access point with a policy (not modelled)."""
    buckets = {res.arn: acct.id for acct in r.accounts.values() for res in acct.resources}
    for acct in r.accounts.values():
        for res in acct.resources:
            if res.policy is not None and ":accesspoint/" in res.arn:
                d.add("E355", f"unsupported: the policy of access point {res.arn} is not modelled (a request "
                              "through it would be decided without it)", res.span)
            if ":s3:::" not in res.arn or "/" not in res.arn:
                continue
            if res.policy is not None:
                d.add("E354", f"S3 object {res.arn} has a policy: objects have no resource-based policy, their "
                              "bucket's policy governs them", res.span, "declare the policy on the bucket")
            owner = buckets.get(res.arn.split("/", 1)[0])
            if owner is not None and owner != acct.id:
                d.add("E354", f"S3 object {res.arn} is declared in account {acct.id}, its bucket in account {owner}: "
                              "object ownership other than the bucket owner's is not modelled", res.span)


_USD = re.compile(r"[0-9]+(\.[0-9]{1,12})?")


def usd_to_pico(usd: str) -> int:
    """An amount of USD as written (``"0.023"``) in pico-USD (10⁻¹² USD): a whole number."""
    whole, _, fraction = usd.partition(".")
    return int(whole) * 10**12 + int(fraction.ljust(12, "0") or 0)


def _check_billing(model: WorldModel, r: Resolved, d: Diagnostics) -> None:
    """E347: a price given twice for a usage type, tiers that do not start at 0 or repeat a
    quantity, an amount that is not USD (digits, at most 12 decimals); usage, a reservation or a
    Savings Plan rate of a type without a price (its cost would be unknown, never 0). E349: what is
    not modelled of Savings Plans (two in one consolidated billing family, a rate for a tiered price)
    and a rate given twice. W304: discount sharing turned off outside an organization."""
    priced: dict[tuple[str, str], ast.Price] = {}
    for p in model.prices:
        key = (p.service, p.usage_type)
        if key in priced:
            d.add("E347", f"the price of {p.service} {p.usage_type} is given twice (first at {priced[key].span})", p.span)
            continue
        priced[key] = p
        starts = [q for q, _ in p.tiers]
        if 0 not in starts or len(set(starts)) != len(starts):
            d.add("E347", f"the tiers of {p.service} {p.usage_type} must start at 0 and each start once: "
                          f"{', '.join(map(str, starts))}", p.span)
        for _, usd in p.tiers:
            if not _USD.fullmatch(usd):
                d.add("E347", f"price '{usd}' of {p.service} {p.usage_type} is not an amount of USD", p.span,
                      "write digits with at most 12 decimals, e.g. \"0.023\"")

    def unpriced(what: str, service: str, usage_type: str, span) -> bool:
        if (service, usage_type) in priced:
            return False
        d.add("E347", f"{what} of {service} {usage_type} without a price: its cost is unknown", span,
              help=did_you_mean(usage_type, [t for s, t in priced if s == service])
              or f"declare aws price \"{service}\" \"{usage_type}\" {{ from 0 \"…\" }}")
        return True

    def amount(usd: str, what: str, span, above_zero: bool = False) -> None:
        if not _USD.fullmatch(usd):
            d.add("E347", f"{what} '{usd}' is not an amount of USD", span, "write digits with at most 12 decimals")
        elif above_zero and usd_to_pico(usd) == 0:
            d.add("E347", f"{what} is 0 USD", span, "a Savings Plan rate is above 0")

    plans: dict[str, ast.SavingsPlan] = {}  # consolidated billing family (organization, or account) -> its plan
    for acct in r.accounts.values():
        for u in (*acct.usage, *(u for res in acct.resources for u in res.usage)):
            unpriced("usage", u.service, u.usage_type, u.span)
        for ri in acct.reservations:
            amount(ri.rate, "the reservation's rate", ri.span)
            unpriced("a reservation", ri.service, ri.usage_type, ri.span)
        placed = r.placement.get(acct.id)
        for sp in acct.savings_plans:
            amount(sp.commitment, "the Savings Plan's commitment", sp.span)
            family = placed.org.id if placed else acct.id
            if family in plans:
                d.add("E349", f"a second Savings Plan in the consolidated billing family of {family} (the first at "
                              f"{plans[family].span}): how AWS applies several plans together is not modelled",
                      sp.span, "unsupported: declare one plan, with the sum of their commitments if their rates agree")
            plans.setdefault(family, sp)
            seen: set[tuple[str, str]] = set()
            for svc, typ, usd in sp.rates:
                amount(usd, f"the Savings Plan's rate for {svc} {typ}", sp.span, above_zero=True)
                if (svc, typ) in seen:
                    d.add("E349", f"the Savings Plan gives a rate for {svc} {typ} twice", sp.span)
                seen.add((svc, typ))
                if not unpriced("a Savings Plan rate", svc, typ, sp.span) and len(priced[svc, typ].tiers) > 1:
                    d.add("E349", f"a Savings Plan rate for {svc} {typ}, whose price has volume tiers: the savings "
                                  "percentage AWS ranks usage by is then not one number", sp.span,
                          "unsupported: Savings Plans are modelled for usage types of one price")
        if not acct.discount_sharing and placed is None:
            d.add("W304", f"account {acct.id} turns discount sharing off, but is in no organization: it shares "
                          "nothing anyway", acct.span)


def _check_logging(r: Resolved, d: Diagnostics) -> None:
    """E351: a trail or log subscription whose ARNs are not of their kind or not of the account, a
    trail declared twice, an organization trail outside an organization. W305: a bucket or
    destination the world does not declare (delivery then cannot be decided). W306: an
    organization trail of a member account."""
    declared = {res.arn for acct in r.accounts.values() for res in acct.resources}
    seen: set[str] = set()

    def arn_of(text: str, service: str, kind: str, acct: Account, what: str, span) -> None:
        arn = parse_arn(text)
        if isinstance(arn, str) or arn.service != service or not arn.region or not arn.resource.startswith(kind) \
                or len(arn.resource) == len(kind):
            d.add("E351", f"{what} '{text}' is not a {service} {kind.rstrip(':/')} ARN", span,
                  f"write arn:aws:{service}:REGION:{acct.id}:{kind}NAME")
        elif arn.account != acct.id:
            d.add("E351", f"{what} {text} names account {arn.account} but is declared in account {acct.id}", span)

    for acct in r.accounts.values():
        for t in acct.trails:
            if t.arn in seen:
                d.add("E351", f"trail {t.arn} is declared twice", t.span)
            seen.add(t.arn)
            arn_of(t.arn, "cloudtrail", "trail/", acct, "trail", t.span)
            placed = r.placement.get(acct.id)
            if t.organization and placed is None:
                d.add("E351", f"trail {t.arn} is an organization trail, but account {acct.id} is in no organization",
                      t.span)
            elif t.organization and r.account_ref(placed.org.management) is not acct:
                d.add("W306", f"organization trail {t.arn} is in member account {acct.id}: AWS keeps every "
                              "organization trail in the management account (one a delegated administrator creates "
                              "too), so this one is taken to record nothing", t.span,
                      "declare it in the management account")
            if t.bucket is not None and f"arn:aws:s3:::{t.bucket}" not in declared:
                d.add("W305", f"trail {t.arn} delivers to bucket {t.bucket}, which the world does not declare: "
                              "whether it can deliver is not decided", t.span,
                      f'declare resource "arn:aws:s3:::{t.bucket}" with its bucket policy')
        for s in acct.log_subscriptions:
            arn_of(s.group, "logs", "log-group:", acct, "log group", s.span)
            dest = parse_arn(s.destination)
            if isinstance(dest, str) or dest.service != "logs" or not dest.resource.startswith("destination:"):
                d.add("E351", f"destination '{s.destination}' is not a logs destination ARN", s.span,
                      "write arn:aws:logs:REGION:ACCOUNT:destination:NAME")
            elif s.destination not in declared:
                d.add("W305", f"destination {s.destination} is not declared in the world: whether the subscription "
                              "may write to it is not decided", s.span,
                      f'declare resource "{s.destination}" with its access policy')


_POOL_ID = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]_[0-9A-Za-z]+")
_ROUTE = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (/[^ ]*)")
_LAMBDA = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?")


def _check_user_pools(r: Resolved, d: Diagnostics) -> None:
    """E352: a user pool without an id of the form REGION_ID, or declared twice; a user declared
    twice or in a group its pool does not have; an API without id, region or stage, or declared
    twice; a route that is not "METHOD /path", declared twice, whose authorizer names no user pool
    of the account, or whose backend is not a Lambda function ARN; a load balancer whose ARN is not
    of an Application Load Balancer of the account, a rule that is not a path, declared twice,
    naming no user pool of the account, or whose backend or target group is not of its kind."""
    pool_ids: set[str] = set()
    api_ids: set[str] = set()
    for acct in r.accounts.values():
        names = {p.name for p in acct.user_pools}

        def entry(what: str, where: str, seen: set[str], pool: str | None, backend: str, span) -> None:
            if what in seen:
                d.add("E352", f"{what} is declared twice in {where}", span)
            seen.add(what)
            if pool is not None and pool not in names:
                d.add("E352", f"{what} lets in the users of user pool '{pool}', which account {acct.id} does not have",
                      span, help=did_you_mean(pool, list(names)))
            if not _LAMBDA.fullmatch(backend):
                d.add("E352", f"the backend of {what} is not a Lambda function ARN: {backend}", span,
                      "write arn:aws:lambda:REGION:ACCOUNT:function:NAME")

        seen: set[str] = set()
        for p in acct.user_pools:
            if p.name in seen:
                d.add("E352", f"user pool '{p.name}' is declared twice in account {acct.id}", p.span)
            seen.add(p.name)
            if p.id is None or not _POOL_ID.fullmatch(p.id):
                d.add("E352", f"user pool '{p.name}' needs an id of the form REGION_ID, not {p.id!r}", p.span,
                      'add a line: id "us-east-1_Example"')
            elif p.id in pool_ids:
                d.add("E352", f"user pool id {p.id} is declared twice", p.span)
            pool_ids.add(p.id or "")
            users: set[str] = set()
            for u in p.users:
                if u.name in users:
                    d.add("E352", f"user '{u.name}' is declared twice in user pool '{p.name}'", u.span)
                users.add(u.name)
                for g in u.groups:
                    if g not in p.groups:
                        d.add("E352", f"user '{u.name}' is in group '{g}', which user pool '{p.name}' does not have",
                              u.span, help=did_you_mean(g, list(p.groups)) or f"add a line: group {g}")
        for api in acct.apis:
            if api.id is not None and api.id in api_ids:
                d.add("E352", f"api id {api.id} is declared twice", api.span)
            api_ids.add(api.id or "")
            routes: set[str] = set()
            for route in api.routes:
                if not _ROUTE.fullmatch(route.route):
                    d.add("E352", f"route '{route.route}' is not \"METHOD /path\"", route.span,
                          'e.g. "GET /orders/{id}" (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)')
                entry(f"route '{route.route}'", f"api '{api.name}'", routes, route.authorizer, route.backend, route.span)
        for lb in acct.load_balancers:
            if lb.arn is not None and not re.fullmatch(
                    rf"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:{acct.id}:loadbalancer/app/[^/]+/[^/]+", lb.arn):
                d.add("E352", f"load balancer '{lb.name}': {lb.arn} is not the ARN of an Application Load Balancer of "
                              f"account {acct.id}", lb.span)
            paths: set[str] = set()
            for rule in lb.rules:
                if not rule.path.startswith("/"):
                    d.add("E352", f"rule '{rule.path}' of load balancer '{lb.name}' is not a path", rule.span)
                entry(f"rule '{rule.path}'", f"load balancer '{lb.name}'", paths, rule.authenticate, rule.backend,
                      rule.span)
                if not re.fullmatch(r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[^/]+/[^/]+",
                                    rule.target_group):
                    d.add("E352", f"the target group of rule '{rule.path}' is not a target group ARN: "
                                  f"{rule.target_group}", rule.span,
                          "write arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID")


def _check_tags(tags: Iterable[tuple[str, str]], span, d: Diagnostics) -> None:
    """E360: a tag AWS takes from no one (the rules every service shares: a key of 1 to 128
    characters, a value of at most 256, no NUL); W309: a key of AWS's own prefix."""
    for key, value in tags:
        if not key or len(key) > 128 or len(value) > 256 or "\x00" in key or "\x00" in value:
            d.add("E360", f"tag {key!r} = {value!r} is not one AWS takes", span,
                  "a key is 1 to 128 characters, a value at most 256, without NUL")
        elif key.lower().startswith("aws:"):
            d.add("W309", f"tag key {key!r}: the aws: prefix is AWS's own (CloudFormation's aws:cloudformation:…); "
                          "no one else can set such a tag", span)


def _check_iam_name(what: str, kind: str, name: str, span, d: Diagnostics) -> None:
    """E359: a name IAM does not allow for a ``kind`` (user, group, role, policy)."""
    if not IAM_NAME.fullmatch(name) or len(name) > IAM_NAME_LENGTH[kind]:
        d.add("E359", f"{what} name {name!r} is not one IAM allows: 1 to {IAM_NAME_LENGTH[kind]} letters, digits and "
                      "_+=,.@- (no / or blank)", span)


def _check_account(r: Resolved, acct: Account, d: Diagnostics) -> None:
    def unique(kind: str, items):
        seen: dict[str, Any] = {}
        folded: dict[str, str] = {}  # IAM names are unique whatever their case
        for item in items:
            if item.name in seen:
                d.add("E321", f"{kind} '{item.name}' is declared twice in account {acct.id}", item.span)
            elif item.name.lower() in folded:
                d.add("E359", f"{kind} '{item.name}' and '{folded[item.name.lower()]}' of account {acct.id} differ only "
                              "in case: IAM names are unique whatever their case", item.span)
            _check_iam_name(kind, kind, item.name, item.span, d)
            seen.setdefault(item.name, item)
            folded.setdefault(item.name.lower(), item.name)
        return seen

    unique("user", acct.users)
    groups = unique("group", acct.groups)
    unique("role", acct.roles)
    unique("policy", acct.policies)
    for p in acct.policies:
        d.extend(validate_policy(p.document, "identity"))
        if p.name in r.aws_policies:  # (AWS tells them apart by ARN: arn:aws:iam::aws:policy/NAME)
            d.add("W310", f"policy '{p.name}' of account {acct.id} has the name of an AWS managed policy of the "
                          f"world: attach {p.name} in this account takes the account's", p.span,
                  "rename one of them")
    for kind, items in (("user", acct.users), ("group", acct.groups), ("role", acct.roles), ("policy", acct.policies)):
        for item in items:
            if not IAM_PATH.fullmatch(item.path):  # a part of the ARN: a wrong one names another resource
                d.add("E357", f"the path {item.path!r} of {kind} '{item.name}' is not an IAM path: / or /…/ of "
                              "printable ASCII without blanks, at most 512 characters", item.span,
                      "write it /team/ (a slash at each end)")

    def written(item, kind: str, name: str):
        """Where ``item`` names ``name`` (its declaration, for a model built in Python)."""
        return dict(item.ref_spans).get((kind, name), item.span)

    def managed(item, names, kind="managed"):
        for name in names:
            if r.managed_policy(acct, name) is None:
                d.add("E315", f"unknown managed policy '{name}' in account {acct.id}", written(item, kind, name),
                      help=did_you_mean(name, [p.name for p in acct.policies] + list(r.aws_policies)))

    def boundary(item):
        found = r.managed_policy(acct, item.boundary)
        if found is None:
            managed(item, [item.boundary], "boundary")
        else:
            d.extend(validate_policy(found[1].document, "boundary"))

    for u in acct.users:
        for g in u.groups:
            if g not in groups:
                d.add("E316", f"unknown group '{g}' in account {acct.id}", written(u, "group", g),
                      help=did_you_mean(g, groups))
        managed(u, u.managed)
        if u.boundary is not None:
            boundary(u)
        for p in u.inline:
            d.extend(validate_policy(p.document, "identity"))
    for g in acct.groups:
        managed(g, g.managed)
        for p in g.inline:
            d.extend(validate_policy(p.document, "identity"))
    for role in acct.roles:
        managed(role, role.managed)
        if role.boundary is not None:
            boundary(role)
        for p in role.inline:
            d.extend(validate_policy(p.document, "identity"))
        if role.path.startswith("/aws-service-role/") and not role.service_linked:
            d.add("W307", f"role '{role.name}' is on the path AWS keeps for service-linked roles, but is not "
                          "declared service_linked: SCPs and RCPs apply to it here, and not in AWS", role.span,
                  "declare it service_linked")
        if role.trust is None:
            if not role.service_linked:
                d.add("W301", f"role '{role.name}' has no trust policy: nobody can assume it", role.span)
        else:
            d.extend(validate_policy(role.trust, "trust"))
            _check_identity_pool_trust(role, d)
    seen: set[str] = set()
    for res in acct.resources:
        if res.arn in seen:
            d.add("E325", f"resource {res.arn} is declared twice", res.span)
        seen.add(res.arn)
        arn = parse_arn(res.arn)
        if isinstance(arn, str):
            d.add("E326", f"malformed resource ARN: {arn}", res.span)
        elif arn.account and arn.account != acct.id:
            d.add("E327", f"resource {res.arn} names account {arn.account} but is declared in account {acct.id}",
                  res.span)
        if res.policy is not None:
            d.extend(validate_policy(res.policy, resource_policy_kind(res.arn)))
        if res.aws_managed and resource_policy_kind(res.arn) != "key":
            d.add("E350", f"resource {res.arn} is declared aws_managed, but only KMS keys are AWS managed here",
                  res.span, "write it for a key: arn:aws:kms:REGION:ACCOUNT:key/KEY-ID")
        elif res.aws_managed and res.policy is None:
            d.add("E350", f"AWS managed key {res.arn} has no key policy: AWS gives every such key one, and its "
                          "requests are decided by it", res.span, "declare the key policy AWS shows for the key")
        if res.abac and not S3_BUCKET.fullmatch(res.arn):
            d.add("E356", f"resource {res.arn} is declared abac, but ABAC is a setting of S3 general purpose "
                          "buckets (other resources that support ABAC evaluate their tags without it)",
                  res.span, "write it for a bucket: arn:aws:s3:::BUCKET")


S3_BUCKET = re.compile(r"arn:aws:s3:::[^/]+")  # an S3 general purpose bucket (no object key)
#: An IAM path (IAM API reference, CreatePolicy / CreateRole / CreateUser, Path: "/" or "/…/" of
#: the characters from ! to ~, 1 to 512 characters).
IAM_PATH = re.compile(r"/|/[\x21-\x7e]{1,510}/")
# the names IAM allows (IAM API reference: CreateUser, CreateGroup, CreateRole, CreatePolicy): a name
# is the last part of an ARN, so a "/" in one would name another path's principal
IAM_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]+")
IAM_NAME_LENGTH = {"user": 64, "role": 64, "group": 128, "policy": 128}


def _reads_resource_tags(model: WorldModel) -> bool:
    """Whether a condition of any policy of ``model`` reads ``aws:ResourceTag`` (its key, or a
    variable in its values)."""
    stack: list = [model]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Condition):
            if "resourcetag/" in x.key.lower() or any("resourcetag/" in v.lower() for v in x.values):
                return True
        elif is_dataclass(x):
            stack.extend(getattr(x, f.name) for f in fields(x))
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
    return False


def resource_policy_kind(arn: str) -> str:
    """KMS key policies are a kind of their own: they must name principals explicitly."""
    return "key" if arn.startswith("arn:") and ":kms:" in arn and ":key/" in arn else "resource"


# ---------------------------------------------------------------------------------------------
# Loading and building


def load(paths: Iterable[str] | str) -> "World":
    """Read world files (``.iaml``; a folder: the ``.iaml`` files in it) and build a :class:`World`.

    Raises:
        InvalidInput: when any file has an error; it carries every diagnostic found.
    """
    if isinstance(paths, str):
        paths = [paths]
    files: list[str] = []
    for p in paths:  # a folder stands for its .iaml files (recursively, sorted)
        if os.path.isdir(p):
            found = [os.path.join(folder, f) for folder, _dirs, names in sorted(os.walk(p))
                     for f in sorted(names) if f.endswith(".iaml")]
            if not found:
                raise InvalidInput([Diagnostic("E320", f"folder '{p}' holds no world file (.iaml)")])
            files += found
        else:
            files.append(p)
    from .evaluate import collector_paused

    sources: dict[str, str] = {}
    with collector_paused():  # reading builds many objects and no garbage cycles: a third of the time
        model, diags = load_world_files(files, sources)
        if not diags.has_errors():
            diags.extend(check_world(model))
    if diags.has_errors():
        raise InvalidInput(diags.sorted(), sources)
    return World(model, sources=sources, warnings=diags.warnings)


def loads(text: str, name: str = "<world>") -> "World":
    """Build a :class:`World` from ``.iaml`` text (imports and ``file`` references are read
    relative to the current folder). Raises InvalidInput on errors."""
    from .grammar.world import parse_world

    sources: dict[str, str] = {}
    wf, diags = parse_world(text, name, base_dir=".", sources=sources)
    if wf is not None and wf.imports:
        diags.add("E330", "import is not available in a world given as text; use iamlogic.load(paths)",
                  wf.imports[0].span)
    model = wf.as_model() if wf is not None else WorldModel()
    if not diags.has_errors():
        diags.extend(check_world(model))
    if diags.has_errors():
        raise InvalidInput(diags.sorted(), sources)
    return World(model, sources=sources, warnings=diags.warnings)


def as_policy(doc: Policy | dict | str, what: str = "<policy>") -> Policy:
    """A policy from an AST value, a JSON-shaped dict, or JSON text. Raises InvalidInput on errors."""
    if isinstance(doc, Policy):
        return doc
    import json

    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    policy, diags = parse_policy_text(text, what)
    if policy is None or diags.has_errors():
        raise InvalidInput(diags.sorted(), {what: text})
    return policy


class _Builder:
    """Common base: each builder edits one node of the world and hands back child builders."""

    def __init__(self, world: "World"):
        self._world = world


class OrgBuilder(_Builder):
    def __init__(self, world: "World", index: int):
        super().__init__(world)
        self._index = index

    def _org(self) -> Organization:
        return self._world._orgs[self._index]

    def _set(self, org: Organization) -> None:
        self._world._changed()
        self._world._orgs[self._index] = org

    def add_scp(self, name: str, document: Policy | dict | str) -> "OrgBuilder":
        o = self._org()
        self._set(replace(o, policies=o.policies + (("scp", NamedPolicy(name, as_policy(document, name))),)))
        return self

    def add_rcp(self, name: str, document: Policy | dict | str) -> "OrgBuilder":
        o = self._org()
        self._set(replace(o, policies=o.policies + (("rcp", NamedPolicy(name, as_policy(document, name))),)))
        return self

    def _edit(self, path: tuple[str, ...], fn) -> None:
        def go(node: OrgNode, rest: tuple[str, ...]) -> OrgNode:
            if not rest:
                return fn(node)
            kids = list(node.children)
            for i, c in enumerate(kids):
                if c.name == rest[0]:
                    kids[i] = go(c, rest[1:])
                    return replace(node, children=tuple(kids))
            raise KeyError(f"no OU {'/'.join(path)}")

        o = self._org()
        self._set(replace(o, root=go(o.root, path)))

    def set_root_id(self, root_id: str) -> "OrgBuilder":
        self._edit((), lambda n: replace(n, id=root_id))
        return self

    def add_ou(self, path: str, id: str | None = None) -> "OrgBuilder":
        """Add an OU; ``path`` names its parents, e.g. ``"Workloads/Restricted"``."""
        *parents, name = [p for p in path.split("/") if p]
        self._edit(tuple(parents), lambda n: replace(n, children=n.children + (OrgNode("ou", name, id),)))
        return self

    def place(self, account: str, ou: str = "", scps: Iterable[str] = (), rcps: Iterable[str] = (),
              detach_full_access: bool = False) -> "OrgBuilder":
        """Place an account (id or name) under the root (``ou=""``) or the OU at path ``ou``."""
        atts = tuple(Attachment("scp", s) for s in scps) + tuple(Attachment("rcp", s) for s in rcps)
        if detach_full_access:
            atts += (Attachment("scp", FULL_AWS_ACCESS, True),)
        ref = AccountRef(account, atts)
        self._edit(tuple(p for p in ou.split("/") if p), lambda n: replace(n, accounts=n.accounts + (ref,)))
        return self

    def attach(self, ou: str, kind: str, policy: str) -> "OrgBuilder":
        """Attach an SCP (``kind="scp"``) or RCP to the root (``ou=""``) or an OU."""
        att = Attachment(kind, policy)
        self._edit(tuple(p for p in ou.split("/") if p), lambda n: replace(n, attachments=n.attachments + (att,)))
        return self

    def detach_full_access(self, ou: str = "") -> "OrgBuilder":
        att = Attachment("scp", FULL_AWS_ACCESS, True)
        self._edit(tuple(p for p in ou.split("/") if p), lambda n: replace(n, attachments=n.attachments + (att,)))
        return self


class AccountBuilder(_Builder):
    def __init__(self, world: "World", index: int):
        super().__init__(world)
        self._index = index

    def _edit(self, **changes) -> "AccountBuilder":
        self._world._changed()
        a = self._world._accounts[self._index]
        self._world._accounts[self._index] = replace(a, **{k: getattr(a, k) + v for k, v in changes.items()})
        return self

    @staticmethod
    def _inline(policies: dict[str, Any] | None) -> tuple[NamedPolicy, ...]:
        return tuple(NamedPolicy(n, as_policy(p, n)) for n, p in (policies or {}).items())

    def add_tags(self, tags: dict[str, str]) -> "AccountBuilder":
        return self._edit(tags=tuple(tags.items()))

    def add_user(self, name: str, *, path: str = "/", tags: dict[str, str] | None = None,
                 groups: Iterable[str] = (), policies: dict[str, Any] | None = None,
                 attach: Iterable[str] = (), boundary: str | None = None,
                 unique_id: str | None = None) -> "AccountBuilder":
        u = User(name, path, tuple((tags or {}).items()), tuple(groups), self._inline(policies), tuple(attach),
                 boundary, unique_id)
        return self._edit(users=(u,))

    def add_group(self, name: str, *, path: str = "/", policies: dict[str, Any] | None = None,
                  attach: Iterable[str] = ()) -> "AccountBuilder":
        return self._edit(groups=(Group(name, path, self._inline(policies), tuple(attach)),))

    def add_role(self, name: str, *, path: str = "/", tags: dict[str, str] | None = None,
                 trust: Policy | dict | str | None = None, policies: dict[str, Any] | None = None,
                 attach: Iterable[str] = (), boundary: str | None = None,
                 service_linked: bool = False, unique_id: str | None = None) -> "AccountBuilder":
        role = Role(name, path, tuple((tags or {}).items()), as_policy(trust, f"{name} trust") if trust is not None else None,
                    self._inline(policies), tuple(attach), boundary, service_linked, unique_id)
        return self._edit(roles=(role,))

    def add_policy(self, name: str, document: Policy | dict | str) -> "AccountBuilder":
        return self._edit(policies=(NamedPolicy(name, as_policy(document, name)),))

    def add_resource(self, arn: str, *, tags: dict[str, str] | None = None,
                     policy: Policy | dict | str | None = None, abac: bool = False) -> "AccountBuilder":
        """A resource of the account. ``abac``: an S3 general purpose bucket with attribute-based
        access control enabled (S3 evaluates ``aws:ResourceTag`` against its tags only then)."""
        res = Resource(arn, tuple((tags or {}).items()), as_policy(policy, arn) if policy is not None else None,
                       abac=abac)
        return self._edit(resources=(res,))


class World:
    """A world: what iamlogic reasons over.

    Build one with :func:`load` from ``.iaml`` files, or by calls::

        w = World()
        w.add_organization("o-a1b2c3d4e5", management="111111111111").add_ou("Workloads")
        w.add_account("111111111111", "management")

    Two worlds are equal when they declare the same things, however they were made.
    """

    def __init__(self, model: WorldModel | None = None, *, sources: dict[str, str] | None = None,
                 warnings: Iterable[Diagnostic] = ()):
        model = model or WorldModel()
        self._orgs = list(model.organizations)
        self._accounts = list(model.accounts)
        self._aws_policies = list(model.aws_policies)
        self._rest = replace(model, organizations=(), accounts=(), aws_policies=())  # the rest, as given
        self.sources = dict(sources or {})
        self.warnings = list(warnings)
        self._evaluator = None
        self._places: dict[str, Span] | None = None

    def _changed(self) -> None:
        self._evaluator = None
        self._places = None

    def locate(self, name: str) -> Span | None:
        """Where the world declares ``name``: an account (its id, or its root user's ARN), a user,
        group or role (ARN), a customer-managed policy (ARN), a resource (ARN), an organization,
        OU or root (id); None for anything else, or for what was built without a source."""
        if self._places is None:
            places: dict[str, Span] = {}

            def put(key: str, span: Span | None) -> None:
                if span is not None:
                    places.setdefault(key, span)

            for org in self._orgs:
                put(org.id, org.span)
                nodes = [org.root]
                while nodes:
                    node = nodes.pop()
                    if node.id:
                        put(node.id, node.span)
                    nodes += node.children
            for acct in self._accounts:
                put(acct.id, acct.span)
                put(root_arn(acct.id), acct.span)
                for u in acct.users:
                    put(user_arn(acct.id, u), u.span)
                for g in acct.groups:
                    put(group_arn(acct.id, g), g.span)
                for r in acct.roles:
                    put(role_arn(acct.id, r), r.span)
                for pol in acct.policies:
                    put(managed_policy_arn(acct.id, pol.name, pol.path), pol.span)
                for res in acct.resources:
                    put(res.arn, res.span)
            self._places = places
        return self._places.get(name)

    @property
    def model(self) -> WorldModel:
        return replace(self._rest, organizations=tuple(self._orgs), accounts=tuple(self._accounts),
                                   aws_policies=tuple(self._aws_policies))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, World) and self.model == other.model

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        m = self.model
        return f"<World: {len(m.organizations)} organization(s), {len(m.accounts)} account(s)>"

    def add_organization(self, id: str, management: str) -> OrgBuilder:
        self._changed()
        self._orgs.append(Organization(id, management))
        return OrgBuilder(self, len(self._orgs) - 1)

    def organization(self, id: str) -> OrgBuilder:
        for i, o in enumerate(self._orgs):
            if o.id == id:
                return OrgBuilder(self, i)
        raise KeyError(f"no organization {id}")

    def add_account(self, id: str, name: str, tags: dict[str, str] | None = None) -> AccountBuilder:
        self._changed()
        self._accounts.append(Account(id, name, tuple((tags or {}).items())))
        return AccountBuilder(self, len(self._accounts) - 1)

    def account(self, ref: str) -> AccountBuilder:
        for i, a in enumerate(self._accounts):
            if ref in (a.id, a.name):
                return AccountBuilder(self, i)
        raise KeyError(f"no account {ref}")

    def add_aws_policy(self, name: str, document: Policy | dict | str) -> "World":
        self._changed()
        self._aws_policies.append(NamedPolicy(name, as_policy(document, name)))
        return self

    def set_rcp_services(self, services: Iterable[str]) -> "World":
        """Take RCPs to restrict the resources of these services (prefixes such as ``"s3"``), in
        place of the list iamlogic ships (``catalog.RCP_SERVICES``): ``aws rcp_services`` in a world."""
        self._changed()
        self._rest = replace(self._rest, rcp_services=(RcpServices(tuple(services)),))
        return self

    def diagnostics(self) -> list[Diagnostic]:
        """Every error and warning of the world as it stands now."""
        return check_world(self.model)

    def to_iaml(self) -> str:
        """The world as canonical ``.iaml`` text."""
        return print_world(self.model)

    def facts(self) -> list[tuple]:
        """The Datalog facts this world compiles to, sorted. Raises InvalidInput when the world has errors."""
        from .compile import compile_world

        errors = [d for d in self.diagnostics() if d.is_error]
        if errors:
            raise InvalidInput(errors, self.sources)
        return compile_world(self.model)

    # -- decisions ------------------------------------------------------------------------------
    def evaluator(self):
        """The evaluator of this world (built on first use, rebuilt after the world changes)."""
        if self._evaluator is None:
            from .compile import compile_world
            from .evaluate import Evaluator, collector_paused

            with collector_paused():  # as in load
                errors = [d for d in self.diagnostics() if d.is_error]
                if errors:
                    raise InvalidInput(errors, self.sources)
                self._evaluator = Evaluator(compile_world(self.model, with_catalog=False))
            if gc.isenabled():
                # The objects made while the collector was paused are all in its youngest
                # generation: they go to the oldest now, in one pass (40 ms in the bench's M world),
                # rather than in a collection during one of the first requests (which took 43-53 ms).
                gc.collect(1)
        return self._evaluator

    def prepare(self) -> int:
        """Load the world, and work out what every request alike asks of it (see
        :meth:`iamlogic.evaluate.Evaluator.prepare`): for a service, once, before it takes
        requests, so that its first requests are not the slow ones. Decisions do not change.
        Returns the number of requests solved for it."""
        return self.evaluator().prepare()

    def check(self, principal: str, action: str, resource: str, context: dict[str, Any] | None = None, *,
              session_policy: Policy | dict | str | None = None, federating_user: str | None = None):
        """Decide one request.

        Args:
            principal: an IAM user, role or root ARN, an assumed-role session ARN
                (``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``), a federated-user ARN (with
                ``federating_user``), an account id, a service principal (``events.amazonaws.com``),
                ``anonymous``, or the name of a user or role that is unique in the world.
            action: ``service:Action``.
            resource: the resource ARN (``*`` for actions without a resource).
            context: condition keys the request carries (``aws:SourceIp``, ``aws:MultiFactorAuthPresent``,
                …); a list gives a multivalued key. Keys derived from the world (``aws:PrincipalArn``,
                ``aws:PrincipalOrgID``, ``aws:ResourceTag/…``) are added; keys given here win.
            session_policy: the session policy passed when the session was created.
            federating_user: for a federated-user session, the IAM user that called GetFederationToken.

        Returns:
            A :class:`~iamlogic.decision.Decision`.
        """
        if session_policy is None:
            ev = self._evaluator or self.evaluator()
            key = _request_key(principal, action, resource, context, federating_user)
            found = ev.decisions.get(key)
            if found is None:
                found = ev.decide_one(principal, action, resource, context, federating_user=federating_user)
                ev.decisions.put(key, found)
            return found
        return self.check_many([dict(principal=principal, action=action, resource=resource, context=context,
                                     session_policy=session_policy, federating_user=federating_user)])[0]

    def check_many(self, requests: Iterable[dict[str, Any] | tuple]) -> list:
        """Decide many requests at once: dicts with the arguments of :meth:`check`, or
        ``(principal, action, resource[, context])`` tuples. Requests of one principal and action
        (8 or more) are decided together, what they share computed once (Evaluator.decide_many).
        The garbage collector is paused meanwhile (:func:`iamlogic.evaluate.collector_paused`)."""
        from .evaluate import collector_paused

        ev = self.evaluator()
        with collector_paused():
            return self._check_many(ev, requests)

    @staticmethod
    def _check_many(ev, requests: Iterable[dict[str, Any] | tuple]) -> list:
        cache = ev.decisions
        out: list = []
        todo: list[tuple] = []  # (principal, action, resource, position, key, context, session policy, federating user)
        for r in requests:
            if isinstance(r, dict):
                principal, action, resource = r["principal"], r["action"], r["resource"]
                context, sp, fed = r.get("context"), r.get("session_policy"), r.get("federating_user")
            else:
                if not 3 <= len(r) <= 4:
                    raise TypeError(f"a request is (principal, action, resource[, context]), not {len(r)} values")
                principal, action, resource, *rest = r
                context, sp, fed = (rest[0] if rest else None), None, None
            key = None if sp is not None else _request_key(principal, action, resource, context, fed)
            found = cache.get(key) if key is not None else None
            out.append(found)
            if found is None:
                todo.append((principal, action, resource, len(out) - 1, key, context, sp, fed))
        # Requests of one principal and action are decided together (Evaluator.decide_many): what
        # they share is computed once. A run of them at a time: the evaluator's lock is let go
        # between runs, for other threads.
        todo.sort(key=lambda t: (str(t[0]), str(t[1]), str(t[2])))
        for run in runs(todo, _CHECK_RUN, lambda t: t[:2]):
            found = ev.decide_many([(principal, action, resource, context,
                                     as_policy(sp, "<session policy>") if sp is not None else None, fed)
                                    for principal, action, resource, _, _, context, sp, fed in run])
            for (_, _, _, i, key, _, _, _), d in zip(run, found):
                out[i] = d
                if key is not None:
                    cache.put(key, d)
        return out
