"""World → Datalog facts, as a short ordered list of named passes.

Every fact is a tuple ``(relation, arg, ...)`` of a relation declared in :mod:`iamlogic.schema`;
facts are Python values and never program text. The passes:

1. ``organizations`` — the services RCPs restrict, roots, OUs, placements, SCP/RCP attachments
   (the default FullAWSAccess and RCPFullAWSAccess included, as AWS attaches them);
2. ``accounts`` — accounts, their tags, their root users;
3. ``principals`` — users, groups, roles, tags, memberships, attached policies, boundaries, trust
   (the roles IAM Identity Center provisions included), then IAM Identity Center: its identities,
   memberships, attributes, assignments, provisioned roles and directories; then Amazon Cognito
   identity pools: their roles, providers, role-mapping rules and identities;
4. ``resources`` — resources, tags, resource-based policies; then ``billing``: prices by volume
   tier (in pico-USD, 10⁻¹² USD, so that every amount is a whole number), usage, reservations and
   Savings Plans; then ``logging``: CloudTrail trails and log subscriptions; then ``user pools``:
   Amazon Cognito user pools and the API Gateway routes whose authorizers accept their tokens;
5. ``statements`` — every policy reached by the passes above, statement by statement;
6. ``catalog`` — each action pattern expanded against the AWS action catalog.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .catalog import RCP_INEFFECTIVE_ACTIONS, Catalog
from .grammar.ast import Account, Attachment, NamedPolicy, OrgNode, Policy, WorldModel
from .schema import RELATIONS
from .world import (
    COGNITO_GUEST_POLICY,
    usd_to_pico,
    FULL_AWS_ACCESS,
    RCP_FULL_AWS_ACCESS,
    Resolved,
    group_arn,
    resolve,
    resource_policy_kind,
    role_arn,
    root_arn,
    user_arn,
)

Fact = tuple


class _Compilation:
    def __init__(self, model: WorldModel, catalog: Catalog):
        self.r: Resolved = resolve(model)
        self.catalog = catalog
        self.policies: dict[str, tuple[str, str, Policy]] = {}  # id -> (kind, name, document)

    def policy(self, pol_id: str, kind: str, name: str, document: Policy) -> str:
        self.policies.setdefault(pol_id, (kind, name, document))
        return pol_id

    # -- 1 ------------------------------------------------------------------------------------
    def organizations(self) -> Iterator[Fact]:
        if self.r.model.organizations:
            yield from (("rcp_service", prefix) for prefix in self.r.rcp_services)
            yield from (("rcp_ineffective_action", action.lower()) for action in RCP_INEFFECTIVE_ACTIONS)
        for org in self.r.model.organizations:
            mgmt = self.r.account_ref(org.management)
            yield ("organization", org.id, mgmt.id if mgmt else org.management)
            for t in org.tag_policies:
                pol = f"{org.id}/tag_policy/{t.name}"
                for k in t.keys:
                    yield ("tag_policy_key", pol, k.key)
                    yield from (("tag_policy_value", pol, k.key, v) for v in k.values)
                    if k.required:
                        yield ("tag_policy_required", pol, k.key)
            root_id = self.r.node_ids[id(org.root)]
            yield ("org_root", org.id, root_id)
            yield from self._node(org, org.root)
            for acct_id, place in self.r.placement.items():
                if place.org is not org:
                    continue
                yield ("account_parent", acct_id, place.node_id)
                yield ("account_org", acct_id, org.id)
                yield from self._attachments(org, acct_id, place.ref.attachments if place.ref else ())

    def _node(self, org, node: OrgNode) -> Iterator[Fact]:
        node_id = self.r.node_ids[id(node)]
        yield ("ou_name", node_id, node.name)
        if node_id in self.r.node_parent:
            yield ("ou_parent", node_id, self.r.node_parent[node_id])
        yield from self._attachments(org, node_id, node.attachments)
        for child in node.children:
            yield from self._node(org, child)

    def _attachments(self, org, target: str, attachments) -> Iterator[Fact]:
        detached = any(a.detach for a in attachments)
        wanted = [a for a in attachments if not a.detach]
        if not detached:
            wanted.append(Attachment("scp", FULL_AWS_ACCESS))
        wanted.append(Attachment("rcp", RCP_FULL_AWS_ACCESS))
        for a in wanted:
            if a.kind == "tag_policy":
                yield ("tag_policy_attached", target, f"{org.id}/tag_policy/{a.policy}")
                continue
            found = self.r.org_policy(org, a.kind, a.policy)
            if found is None:
                continue  # reported by check_world; a world with errors is never compiled
            pol_id, np = found
            yield (f"{a.kind}_attached", target, self.policy(pol_id, a.kind, np.name, np.document))

    # -- 2 ------------------------------------------------------------------------------------
    def accounts(self) -> Iterator[Fact]:
        for acct in self.r.accounts.values():
            yield ("account", acct.id, acct.name)
            for k, v in acct.tags:
                yield ("account_tag", acct.id, k, v)
            yield ("principal", root_arn(acct.id), "root", acct.id)

    # -- 3 ------------------------------------------------------------------------------------
    def principals(self) -> Iterator[Fact]:
        for acct in self.r.accounts.values():
            groups = {g.name: g for g in acct.groups}
            for g in acct.groups:
                arn = group_arn(acct.id, g)
                yield ("group", arn, acct.id, g.name)
                yield from self._identity_policies("group_policy", arn, acct, g.inline, g.managed)
            for u in acct.users:
                arn = user_arn(acct.id, u)
                yield ("principal", arn, "user", acct.id)
                yield ("principal_name", arn, u.name, u.path)
                if u.unique_id is not None:
                    yield ("principal_id", arn, u.unique_id)
                yield from (("principal_tag", arn, k, v) for k, v in u.tags)
                yield from (("group_member", arn, group_arn(acct.id, groups[g])) for g in u.groups if g in groups)
                yield from self._identity_policies("identity_policy", arn, acct, u.inline, u.managed)
                yield from self._boundary(arn, acct, u.boundary)
            for role in acct.roles:
                arn = role_arn(acct.id, role)
                yield ("principal", arn, "role", acct.id)
                yield ("principal_name", arn, role.name, role.path)
                if role.unique_id is not None:
                    yield ("principal_id", arn, role.unique_id)
                yield from (("principal_tag", arn, k, v) for k, v in role.tags)
                if role.service_linked:
                    yield ("role_service_linked", arn)
                yield from self._identity_policies("identity_policy", arn, acct, role.inline, role.managed)
                yield from self._boundary(arn, acct, role.boundary)
                if role.trust is not None:
                    pol = self.policy(f"{arn}#trust", "trust", f"{role.name} trust policy", role.trust)
                    yield ("role_trust_policy", arn, pol)

    def _identity_policies(self, relation: str, owner: str, acct: Account,
                           inline: tuple[NamedPolicy, ...], managed: tuple[str, ...]) -> Iterator[Fact]:
        for p in inline:
            yield (relation, owner, self.policy(f"{owner}#inline/{p.name}", "identity", p.name, p.document))
        for name in managed:
            found = self.r.managed_policy(acct, name)
            if found is not None:
                pol_id, np = found
                yield (relation, owner, self.policy(pol_id, "identity", np.name, np.document))

    def _boundary(self, owner: str, acct: Account, name: str | None) -> Iterator[Fact]:
        found = self.r.managed_policy(acct, name) if name is not None else None
        if found is not None:
            pol_id, np = found
            yield ("permissions_boundary", owner, self.policy(pol_id, "identity", np.name, np.document))

    def identity_center(self) -> Iterator[Fact]:
        for org_id, idx in self.r.identity.items():
            for key in idx.attributes:
                yield ("sso_session_attribute", org_id, key)
            for name, (user, directory) in idx.users.items():
                yield ("sso_user", org_id, name, directory)
                yield from (("sso_user_attribute", org_id, name, k, v) for k, v in user.attributes)
            for name, (_group, directory) in idx.groups.items():
                yield ("sso_group", org_id, name, directory)
            yield from (("sso_group_member", org_id, u, g) for u, g in idx.members)
            yield from (("sso_assignment", org_id, *a) for a in idx.assignments)
            yield from (("sso_role", role, org_id, ps, acct) for role, (ps, acct) in idx.roles.items())
            for name, dtype, of, link in idx.directories:
                yield ("directory", org_id, name, dtype)
                if of is not None:
                    yield ("directory_link", org_id, of, name, link)

    def identity_pools(self) -> Iterator[Fact]:
        for pool_id, (acct, pool) in self.r.pools.items():
            roles = {x.name: role_arn(acct.id, x) for x in acct.roles}
            yield ("cognito_pool", pool_id, acct.id, pool.name, str(pool.classic_flow).lower(),
                   str(pool.guests).lower())
            for kind in ("authenticated", "unauthenticated"):
                if getattr(pool, kind) in roles:
                    yield ("cognito_pool_role", pool_id, kind, roles[getattr(pool, kind)])
            yield from (("cognito_provider", pool_id, p) for p in pool.providers)
            for m in pool.mappings:
                yield ("cognito_mapping", pool_id, m.provider, m.otherwise)
                yield from (("cognito_mapping_rule", pool_id, m.provider, i, x.claim, x.op, x.value, roles[x.role])
                            for i, x in enumerate(m.rules, 1) if x.role in roles)
            for x in pool.identities:
                linked = self.r.identity_users.get(x.id)
                if linked is not None:  # a user of a user pool: its claims are the user's attributes (16-cognito.dl)
                    yield ("cognito_identity", pool_id, x.id, linked[0])
                    yield ("cognito_identity_user", x.id, linked[1])
                elif x.user is None:
                    yield ("cognito_identity", pool_id, x.id, x.provider or "")
                yield from (("cognito_identity_claim", x.id, k, v) for k, v in x.claims)
                yield from (("cognito_identity_amr", x.id, v) for v in x.amr)
        scope_down = self.r.aws_policies.get(COGNITO_GUEST_POLICY)
        if self.r.pools and scope_down is not None:
            pol = self.policy(f"cognito-guest-session:{COGNITO_GUEST_POLICY}", "session", scope_down.name,
                              scope_down.document)
            yield ("cognito_guest_policy", pol)

    # -- 4 ------------------------------------------------------------------------------------
    def resources(self) -> Iterator[Fact]:
        for acct in self.r.accounts.values():
            for res in acct.resources:
                yield ("resource", res.arn, acct.id)
                yield from (("resource_tag", res.arn, k, v) for k, v in res.tags)
                if res.aws_managed:
                    yield ("aws_managed_key", res.arn)
                if res.abac:
                    yield ("bucket_abac", res.arn)
                if res.policy is not None:
                    kind = resource_policy_kind(res.arn)
                    pol = self.policy(f"{res.arn}#policy", kind, f"{res.arn} policy", res.policy)
                    yield ("resource_policy", res.arn, pol)

    def billing(self) -> Iterator[Fact]:
        for p in self.r.model.prices:
            for start, usd in p.tiers:
                yield ("price_tier", p.service, p.usage_type, start, usd_to_pico(usd))
        for acct in self.r.accounts.values():
            rows = [(u, "") for u in acct.usage] + [(u, res.arn) for res in acct.resources for u in res.usage]
            for n, (u, res) in enumerate(rows):
                yield ("usage", f"{acct.id}#{n}", acct.id, u.service, u.usage_type, u.quantity, res)
            for n, ri in enumerate(acct.reservations):
                yield ("reservation", f"{acct.id}#ri{n}", acct.id, ri.service, ri.usage_type, ri.quantity,
                       usd_to_pico(ri.rate))
            for n, sp in enumerate(acct.savings_plans):
                plan = f"{acct.id}#sp{n}"
                yield ("savings_plan", plan, acct.id, usd_to_pico(sp.commitment))
                yield from (("sp_rate", plan, svc, typ, usd_to_pico(usd)) for svc, typ, usd in sp.rates)
            if not acct.discount_sharing:
                yield ("no_discount_sharing", acct.id)

    def logging(self) -> Iterator[Fact]:
        for acct in self.r.accounts.values():
            for t in acct.trails:
                yield ("trail", t.arn, acct.id, t.bucket or "", t.prefix)
                yield from ((f"trail_{flag}", t.arn) for flag, on in (
                    ("organization", t.organization), ("multi_region", t.multi_region), ("logging", t.logging)) if on)
            yield from (("log_subscription", s.group, acct.id, s.destination) for s in acct.log_subscriptions)

    def user_pools(self) -> Iterator[Fact]:
        for acct in self.r.accounts.values():
            pools = {p.name: p.id for p in acct.user_pools}
            for p in acct.user_pools:
                yield ("user_pool", p.id, acct.id, p.name, p.mfa)
                yield from (("user_pool_provider", p.id, prov) for prov in p.providers)
                for client, scopes in p.clients:
                    yield ("pool_client", p.id, client)
                    yield from (("pool_client_scope", p.id, client, scope) for scope in scopes)
                for u in p.users:
                    user = f"{p.id}/{u.name}"
                    yield ("pool_user", user, p.id)
                    yield from (("pool_user_group", user, g) for g in u.groups)
                    yield from (("pool_user_attribute", user, k, v) for k, v in u.attributes)
                    yield from ((rel, user) for rel, on in (("pool_user_mfa", u.mfa), ("pool_user_unconfirmed", not u.confirmed),
                                                            ("pool_user_disabled", not u.enabled)) if on)
                    if u.provider is not None:
                        yield ("pool_user_via", user, u.provider)
            for api in acct.apis:
                yield ("api", api.id, acct.id, api.name, api.region, api.stage)
                for r in api.routes:
                    yield ("api_route", api.id, r.route, r.backend)
                    if r.authorizer is not None:
                        yield ("route_authorizer", api.id, r.route, pools[r.authorizer])
                    yield from (("route_scope", api.id, r.route, scope) for scope in r.scopes)
            for lb in acct.load_balancers:
                yield ("load_balancer", lb.arn, acct.id, lb.name)
                for r in lb.rules:
                    yield ("lb_rule", lb.arn, r.path, r.backend, r.target_group)
                    if r.authenticate is not None:
                        yield ("lb_authenticate", lb.arn, r.path, pools[r.authenticate])

    # -- 5 ------------------------------------------------------------------------------------
    def statements(self) -> Iterator[Fact]:
        for pol_id, (kind, name, doc) in self.policies.items():
            yield from policy_facts(pol_id, kind, name, doc)

    # -- 6 ------------------------------------------------------------------------------------
    def catalog_facts(self, facts: list[Fact]) -> Iterator[Fact]:
        patterns = {f[2] for f in facts if f[0] in ("statement_action", "statement_not_action")}
        for pattern in sorted(patterns):
            for action in self.catalog.expand(pattern):
                yield ("action_pattern_covers", pattern, action)


def policy_facts(pol_id: str, kind: str, name: str, doc: Policy) -> Iterator[Fact]:
    """The facts of one policy document: the policy, its statements, elements and conditions."""
    yield ("policy", pol_id, kind, name)
    if doc.version is not None:
        yield ("policy_version", pol_id, doc.version)
    for i, s in enumerate(doc.statements):
        sid = f"{pol_id}#{i}"
        yield ("statement", sid, pol_id, i, s.effect)
        if s.sid is not None:
            yield ("statement_sid", sid, s.sid)
        if s.span is not None:
            yield ("statement_source", sid, s.span.file, s.span.line, s.span.col)
        for rel, values in (("statement_action", s.action), ("statement_not_action", s.not_action),
                            ("statement_resource", s.resource), ("statement_not_resource", s.not_resource)):
            for v in values or ():
                yield (rel, sid, v)
        for rel, principals in (("statement_principal", s.principal), ("statement_not_principal", s.not_principal)):
            for p in principals or ():
                yield (rel, sid, p.type, p.value)
        for j, c in enumerate(s.conditions):
            cid = f"{sid}/c{j}"
            yield ("statement_condition", cid, sid, c.operator, c.key)
            for v in c.values:
                yield ("condition_value", cid, v)


PASSES: list[tuple[str, Callable[[_Compilation], Iterator[Fact]]]] = [
    ("organizations", _Compilation.organizations),
    ("accounts", _Compilation.accounts),
    ("principals", _Compilation.principals),
    ("identity center", _Compilation.identity_center),
    ("identity pools", _Compilation.identity_pools),
    ("resources", _Compilation.resources),
    ("billing", _Compilation.billing),
    ("logging", _Compilation.logging),
    ("user pools", _Compilation.user_pools),
    ("statements", _Compilation.statements),
]


def compile_world(model: WorldModel, catalog: Catalog | None = None, *, with_catalog: bool = True) -> list[Fact]:
    """Compile a checked world model into its sorted, de-duplicated facts.

    ``with_catalog=False`` leaves out the catalog expansion (``action_pattern_covers``), which the
    engine answers from the catalog directly.

    >>> from iamlogic.grammar.ast import Account, WorldModel
    >>> compile_world(WorldModel(accounts=(Account("111122223333", "dev"),)))
    [('account', '111122223333', 'dev'), ('principal', 'arn:aws:iam::111122223333:root', 'root', '111122223333')]
    """
    comp = _Compilation(model, catalog or Catalog.default())
    facts: list[Fact] = []
    for _name, run in PASSES:
        facts.extend(run(comp))
    if with_catalog:
        facts.extend(comp.catalog_facts(facts))
    for f in facts:
        rel = RELATIONS.get(f[0])
        if rel is None or rel.arity != len(f) - 1:
            raise AssertionError(f"compiler emitted an undeclared fact {f!r}")
    return sorted(set(facts), key=_sort_key)


def _sort_key(fact: Fact):
    return tuple((0, x) if isinstance(x, int) else (1, str(x)) for x in fact)
