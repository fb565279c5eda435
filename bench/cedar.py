"""The part of a world Cedar can express, as Cedar policies, and which requests it decides alike.

Translation (see bench/README.md, "The Cedar translation"):

- Every IAM user and role is an entity ``Iam::Principal::"<ARN>"``. Its parents are the groups it
  belongs to (``Iam::Group::"<group ARN>"``) and the identity policies attached to it
  (``Iam::Policy::"<policy id>"``, the engine's policy id: the managed-policy ARN, or
  ``<owner ARN>#inline/<name>``); a group's parents are its policies. So "policy P applies to
  principal X" is Cedar's ``principal in Iam::Policy::"P"``, through groups included.
- Each *translatable* identity statement becomes one Cedar policy, annotated
  ``@id("<statement id>")`` with the engine's statement id (``<policy id>#<index>``)::

      permit|forbid (principal in Iam::Policy::"<policy id>", action [in [...]], resource [== ...])
      when { <action patterns> && <resource patterns> };

  Allow → ``permit``, Deny → ``forbid``. Actions are lower-cased (IAM matches them
  case-insensitively, Cedar's ``like`` is case-sensitive): exact actions become
  ``Iam::Action::"s3:getobject"`` entities, a wildcard becomes ``context.action like "s3:get*"``.
  Resources are ``Iam::Resource::"<ARN>"`` entities; ``*`` is no constraint, an exact ARN is
  ``resource == …``, a wildcard ARN ``context.resource like "…"``.
- Translatable: Action (not NotAction) and Resource (not NotResource), no Condition, patterns with
  ``*`` only (no ``?``, no policy variable) and, in a resource pattern, wildcards only in the
  resource part (``like`` matches the whole string; IAM matches each ARN segment apart, so a
  ``*`` in the region or account segment is not expressible).

A request is *in the subset* (its answer is compared) when nothing outside the translation can
change its decision: the caller is a user or role of the world (or a session of a role) without a
service-linked role; every statement of its identity policies that could apply (ignoring
conditions) is translatable; its permissions boundary, every SCP level of its account and every RCP
level of the resource's account is *neutral* (no Deny statement could apply, and — for the
boundary and each SCP level — some unconditional Allow surely applies); the resource is in the
caller's account, has no resource-based policy statement that could apply, is no principal of the
world (trust policies) and no KMS key. Then IAM's answer is the identity policies' answer: a
``forbid`` → ExplicitDeny, else a ``permit`` → Allow, else ImplicitDeny — which is Cedar's
(``Deny`` with a forbid among the reasons, ``Allow``, ``Deny`` with no reasons).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import cedarpy

from iamlogic.grammar.ast import Account, Policy, Statement, WorldModel
from iamlogic.matching import has_variables, resource_match, wildcard_match
from iamlogic.world import FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS, group_arn, resolve, role_arn, user_arn

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"
_STS = re.compile(r"arn:aws:sts::([0-9]{12}):assumed-role/([^/]+)/.+")
_ACCOUNT = re.compile(r"[0-9]{12}")


def _s(text: str) -> str:
    """A Cedar string literal."""
    return json.dumps(text)


def _translatable_resource(p: str) -> bool:
    if p == "*":
        return True
    if "?" in p or has_variables(p):
        return False
    parts = p.split(":", 5)
    return len(parts) == 6 and not any("*" in x for x in parts[:5])


def translatable(s: Statement) -> bool:
    return (s.action is not None and s.resource is not None and not s.conditions
            and s.principal is None and s.not_principal is None
            and all("?" not in a for a in s.action) and all(_translatable_resource(r) for r in s.resource))


def _action_matches(s: Statement, action: str) -> bool:
    if s.action is not None:
        return any(wildcard_match(p, action, ignore_case=True) for p in s.action)
    if s.not_action is not None:
        return not any(wildcard_match(p, action, ignore_case=True) for p in s.not_action)
    return True


def _resource_could_match(s: Statement, resource: str) -> bool:
    """Whether the Resource/NotResource element could match (a pattern with a variable: maybe)."""
    if s.resource is not None:
        return any(has_variables(p) or resource_match(p, resource) for p in s.resource)
    if s.not_resource is not None:
        if any(has_variables(p) for p in s.not_resource):
            return True
        return not any(resource_match(p, resource) for p in s.not_resource)
    return True


def could_apply(s: Statement, action: str, resource: str) -> bool:
    """Conservatively: the statement might apply (conditions and principals not evaluated)."""
    return _action_matches(s, action) and _resource_could_match(s, resource)


def surely_applies(s: Statement, action: str, resource: str) -> bool:
    """The statement applies whatever the context (no condition, no variable, no principal element)."""
    if s.conditions or s.principal is not None or s.not_principal is not None:
        return False
    if s.resource is not None and any(has_variables(p) for p in s.resource):
        return False
    if s.not_resource is not None and any(has_variables(p) for p in s.not_resource):
        return False
    return _action_matches(s, action) and _resource_could_match(s, resource)


def _neutral(policies: list[Policy], action: str, resource: str, need_allow: bool) -> bool:
    stmts = [s for p in policies for s in p.statements]
    if any(s.effect == "Deny" and could_apply(s, action, resource) for s in stmts):
        return False
    return not need_allow or any(s.effect == "Allow" and surely_applies(s, action, resource) for s in stmts)


def _cedar_policy(stmt_id: str, policy_id: str, s: Statement) -> str:
    head = "permit" if s.effect == "Allow" else "forbid"
    conds = []
    actions = [a.lower() for a in s.action]
    exact = [a for a in actions if "*" not in a]
    wild = [a for a in actions if "*" in a]
    if "*" in actions:
        action_scope = "action"
    elif not wild:
        action_scope = "action in [" + ", ".join(f"Iam::Action::{_s(a)}" for a in exact) + "]"
    else:
        action_scope = "action"
        alts = [f"action == Iam::Action::{_s(a)}" for a in exact] + [f"context.action like {_s(a)}" for a in wild]
        conds.append("(" + " || ".join(alts) + ")")
    resource_scope = "resource"
    if "*" not in s.resource:
        exact_r = [r for r in s.resource if "*" not in r]
        wild_r = [r for r in s.resource if "*" in r]
        if len(exact_r) == 1 and not wild_r:
            resource_scope = f"resource == Iam::Resource::{_s(exact_r[0])}"
        else:
            alts = [f"resource == Iam::Resource::{_s(r)}" for r in exact_r] + \
                   [f"context.resource like {_s(r)}" for r in wild_r]
            conds.append("(" + " || ".join(alts) + ")")
    text = (f"@id({_s(stmt_id)})\n{head} (principal in Iam::Policy::{_s(policy_id)}, {action_scope}, "
            f"{resource_scope})")
    if conds:
        text += " when { " + " && ".join(conds) + " }"
    return text + ";"


@dataclass
class _Caller:
    arn: str  # the user or role ARN (for a session: its role)
    account: str
    identity: list[tuple[str, Policy]]  # (policy id, document)
    boundary: Policy | None
    service_linked: bool


@dataclass
class CedarWorld:
    """The Cedar translation of a world's identity policies, and the subset analysis."""

    model: WorldModel
    policies: dict[str, str] = field(default_factory=dict)  # statement id -> Cedar text
    by_policy: dict[str, list[str]] = field(default_factory=dict)  # policy id -> statement ids translated
    entities_json: list[dict] = field(default_factory=list)
    skipped: int = 0  # identity statements left out (not translatable)

    def __post_init__(self):
        m = self.model
        self.r = resolve(m)
        self.callers: dict[str, _Caller] = {}
        self.caller_policies: dict[str, list[str]] = {}  # principal ARN -> policy ids (direct and via groups)
        self.resources: dict[str, tuple[str, Policy | None]] = {}  # declared ARN -> (account, policy)
        self.principal_arns: set[str] = set()
        seen_policies: dict[str, Policy] = {}
        for acct in m.accounts:
            groups = {g.name: g for g in acct.groups}
            group_pols: dict[str, list[str]] = {}
            for g in acct.groups:
                ids = self._identity(acct, group_arn(acct.id, g), g.inline, g.managed, seen_policies)
                group_pols[g.name] = ids
                self.entities_json.append(self._entity("Iam::Group", group_arn(acct.id, g),
                                                       [("Iam::Policy", i) for i in ids]))
            for kind, items in (("user", acct.users), ("role", acct.roles)):
                for p in items:
                    arn = user_arn(acct.id, p) if kind == "user" else role_arn(acct.id, p)
                    self.principal_arns.add(arn)
                    ids = self._identity(acct, arn, p.inline, p.managed, seen_policies)
                    gnames = [g for g in getattr(p, "groups", ()) if g in groups]
                    parents = [("Iam::Policy", i) for i in ids] + [("Iam::Group", group_arn(acct.id, groups[g]))
                                                                   for g in gnames]
                    self.entities_json.append(self._entity("Iam::Principal", arn, parents))
                    all_ids = ids + [i for g in gnames for i in group_pols[g]]
                    self.caller_policies[arn] = list(dict.fromkeys(all_ids))
                    found = self.r.managed_policy(acct, p.boundary) if p.boundary else None
                    self.callers[arn] = _Caller(arn, acct.id, [(i, seen_policies[i]) for i in
                                                               self.caller_policies[arn]],
                                                found[1].document if found else None,
                                                bool(getattr(p, "service_linked", False)))
            for res in acct.resources:
                self.resources[res.arn] = (acct.id, res.policy)
        for pol_id, doc in seen_policies.items():
            ids = []
            for i, s in enumerate(doc.statements):
                if translatable(s):
                    sid = f"{pol_id}#{i}"
                    self.policies[sid] = _cedar_policy(sid, pol_id, s)
                    ids.append(sid)
                else:
                    self.skipped += 1
            self.by_policy[pol_id] = ids
        self._levels_cache: dict[tuple[str, str], list[list[Policy]] | None] = {}
        self._sliced: dict[str, object] = {}

    def _identity(self, acct: Account, owner: str, inline, managed, seen: dict) -> list[str]:
        ids = []
        for p in inline:
            i = f"{owner}#inline/{p.name}"
            seen[i] = p.document
            ids.append(i)
        for name in managed:
            found = self.r.managed_policy(acct, name)
            if found is not None:
                seen[found[0]] = found[1].document
                ids.append(found[0])
        return ids

    @staticmethod
    def _entity(etype: str, eid: str, parents: list[tuple[str, str]]) -> dict:
        return {"uid": {"type": etype, "id": eid}, "attrs": {},
                "parents": [{"type": t, "id": i} for t, i in parents]}

    # -- Cedar handles ---------------------------------------------------------------------------
    def policy_text(self) -> str:
        return "\n".join(self.policies.values())

    def build(self):
        """Parse the whole policy set and the entities once (the handles reused by every call)."""
        self.whole = cedarpy.PolicySet.from_str(self.policy_text())
        self.entities = cedarpy.Entities.from_json_str(json.dumps(self.entities_json))
        return self

    def sliced_text(self, principal: str) -> str:
        caller = self._caller(principal)
        ids = [sid for pid in (self.caller_policies.get(caller.arn, ()) if caller else ()) for sid in
               self.by_policy.get(pid, ())]
        return "\n".join(self.policies[i] for i in ids)

    def sliced(self, principal: str):
        caller = self._caller(principal)
        key = caller.arn if caller else principal
        ps = self._sliced.get(key)
        if ps is None:
            ps = self._sliced[key] = cedarpy.PolicySet.from_str(self.sliced_text(principal))
        return ps

    def cedar_request(self, principal: str, action: str, resource: str) -> dict:
        caller = self._caller(principal)
        return {"principal": {"type": "Iam::Principal", "id": caller.arn if caller else principal},
                "action": {"type": "Iam::Action", "id": action.lower()},
                "resource": {"type": "Iam::Resource", "id": resource},
                "context": {"action": action.lower(), "resource": resource}}

    def decide(self, principal: str, action: str, resource: str, policies) -> tuple[str, tuple[str, ...]]:
        """Cedar's answer as an IAM outcome, and the statement ids of the deciding policies."""
        res = cedarpy.is_authorized(self.cedar_request(principal, action, resource), policies, self.entities)
        if res.diagnostics.errors:
            raise RuntimeError(f"cedar errors: {res.diagnostics.errors}")
        reasons = res.diagnostics.reasons
        ids = res.diagnostics.id_annotations_by_reason
        stmts = tuple(sorted(ids.get(r, r) for r in reasons))
        if res.decision == cedarpy.Decision.Allow:
            return ALLOW, stmts
        return (EXPLICIT_DENY if reasons else IMPLICIT_DENY), stmts

    # -- the subset ------------------------------------------------------------------------------
    def _caller(self, principal: str) -> _Caller | None:
        if principal in self.callers:
            return self.callers[principal]
        m = _STS.fullmatch(principal)
        if m:
            return self.callers.get(f"arn:aws:iam::{m.group(1)}:role/{m.group(2)}")
        return None

    def _org_levels(self, acct: str, kind: str) -> list[list[Policy]] | None:
        """The SCPs (or RCPs) at each level root → OUs → account; None when none apply."""
        key = (acct, kind)
        if key in self._levels_cache:
            return self._levels_cache[key]
        place = self.r.placement.get(acct)
        levels = None
        if place is not None:
            mgmt = self.r.account_ref(place.org.management)
            if not (mgmt is not None and mgmt.id == acct):
                chain = [place.node_id]
                while chain[0] in self.r.node_parent:
                    chain.insert(0, self.r.node_parent[chain[0]])
                atts = [self.r.nodes[n].attachments for n in chain] + [place.ref.attachments if place.ref else ()]
                levels = []
                for a_list in atts:
                    names = [a.policy for a in a_list if a.kind == kind and not a.detach]
                    if kind == "scp" and not any(a.detach and a.policy == FULL_AWS_ACCESS for a in a_list):
                        names.append(FULL_AWS_ACCESS)
                    if kind == "rcp":
                        names.append(RCP_FULL_AWS_ACCESS)
                    found = [self.r.org_policy(place.org, kind, n) for n in dict.fromkeys(names)]
                    levels.append([f[1].document for f in found if f is not None])
        self._levels_cache[key] = levels
        return levels

    def _resource_owner(self, resource: str, caller_account: str) -> tuple[str, Policy | None, bool]:
        """(owner account, governing resource policy, known to the world)."""
        if resource in self.resources:
            acct, pol = self.resources[resource]
            return acct, pol, True
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            bucket = resource.split("/", 1)[0]
            if bucket in self.resources:
                acct, pol = self.resources[bucket]
                return acct, pol, True
        parts = resource.split(":", 5)
        if len(parts) == 6 and _ACCOUNT.fullmatch(parts[4]):
            return parts[4], None, False
        return caller_account, None, False

    def in_subset(self, principal: str, action: str, resource: str) -> tuple[bool, str]:
        """Whether only translated statements can decide the request, and if not, why."""
        caller = self._caller(principal)
        if caller is None:
            return False, "caller"
        if caller.service_linked:
            return False, "service-linked role"
        if resource in self.principal_arns or (":kms:" in resource and ":key/" in resource):
            return False, "trust or key policy"
        owner, rpol, _ = self._resource_owner(resource, caller.account)
        if owner != caller.account:
            return False, "cross-account"
        if rpol is not None and any(could_apply(s, action, resource) for s in rpol.statements):
            return False, "resource policy"
        for pid, doc in caller.identity:
            for s in doc.statements:
                if not translatable(s) and could_apply(s, action, resource):
                    return False, "untranslatable identity statement"
        if caller.boundary is not None and not _neutral([caller.boundary], action, resource, True):
            return False, "boundary"
        scps = self._org_levels(caller.account, "scp")
        if scps is not None and not all(_neutral(level, action, resource, True) for level in scps):
            return False, "SCP"
        rcps = self._org_levels(owner, "rcp")
        if rcps is not None and not all(_neutral(level, action, resource, False) for level in rcps):
            return False, "RCP"
        return True, ""

    def identity_statement_ids(self, principal: str) -> set[str]:
        """Every statement id the translation holds for this caller (to filter the engine's reasons)."""
        caller = self._caller(principal)
        if caller is None:
            return set()
        return {sid for pid in self.caller_policies.get(caller.arn, ()) for sid in self.by_policy.get(pid, ())}
