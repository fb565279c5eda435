"""A world's accounts written as IAM's account authorization details, and read back, decide as the
world does: the export carries every user, group, role, policy, boundary, tag and unique id."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World, load
from iamlogic.grammar.ast import Account, WorldModel
from iamlogic.grammar.gaad import authorization_details
from iamlogic.grammar.json_policy import policy_to_json
from iamlogic.grammar.printer import print_world
from iamlogic.testing import requests_for, valid_world_models

REQUESTS_PER_WORLD = 20


def _export(acct: Account, aws_names: set[str], model: WorldModel) -> dict:
    """The account as `aws iam get-account-authorization-details` lists it (the API's shapes)."""
    own = {p.name for p in acct.policies}

    def arn(name: str) -> str:
        return f"arn:aws:iam::{acct.id if name in own else 'aws'}:policy/{name}"

    def entity(kind: str, e, extra: dict) -> dict:
        out = {"Path": e.path, f"{kind}Name": e.name, "Arn": f"arn:aws:iam::{acct.id}:{kind.lower()}{e.path}{e.name}",
               f"{kind}PolicyList": [{"PolicyName": p.name, "PolicyDocument": policy_to_json(p.document)}
                                     for p in e.inline],
               "AttachedManagedPolicies": [{"PolicyName": n, "PolicyArn": arn(n)} for n in e.managed], **extra}
        if getattr(e, "unique_id", None):
            out[f"{kind}Id"] = e.unique_id
        if getattr(e, "boundary", None):
            out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn(e.boundary)}
        if getattr(e, "tags", None):
            out["Tags"] = [{"Key": k, "Value": v} for k, v in e.tags]
        return out

    def managed(p, owner: str) -> dict:
        return {"PolicyName": p.name, "Arn": f"arn:aws:iam::{owner}:policy/{p.name}", "Path": "/",
                "DefaultVersionId": "v1", "PolicyVersionList": [
                    {"Document": policy_to_json(p.document), "VersionId": "v1", "IsDefaultVersion": True}]}

    return {
        "UserDetailList": [entity("User", u, {"GroupList": list(u.groups)}) for u in acct.users],
        "GroupDetailList": [entity("Group", g, {}) for g in acct.groups],
        "RoleDetailList": [entity("Role", r, {"AssumeRolePolicyDocument": policy_to_json(r.trust)})
                           for r in acct.roles],
        "Policies": [managed(p, acct.id) for p in acct.policies]
        + [managed(p, "aws") for p in model.aws_policies if p.name in aws_names],
        "IsTruncated": False,
    }


def _exportable(model: WorldModel) -> WorldModel:
    """What an export can say of the model: no resources nor identity pools; a role is service-linked
    by its path only (the generated ones are not under /aws-service-role/)."""
    accounts = tuple(dataclasses.replace(
        a, resources=(), identity_pools=(), tags=(),
        roles=tuple(dataclasses.replace(r, service_linked=False) for r in a.roles)) for a in model.accounts)
    return dataclasses.replace(model, accounts=accounts)


@settings(max_examples=300 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 25, deadline=None)
@given(valid_world_models(), st.data())
def test_exported_accounts_decide_as_the_world(model, data):
    model = _exportable(model)
    with tempfile.TemporaryDirectory() as tmp:
        imports = []
        for acct in model.accounts:
            used = {n for e in (*acct.users, *acct.groups, *acct.roles) for n in e.managed}
            used |= {e.boundary for e in (*acct.users, *acct.roles) if e.boundary}
            path = os.path.join(tmp, f"{acct.id}.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(_export(acct, used - {p.name for p in acct.policies}, model), fh)
            imports.append(f'import "{acct.id}.json"\n')
        rest = dataclasses.replace(model, accounts=())  # the organizations, and AWS-managed policies no one uses
        main = os.path.join(tmp, "world.iaml")
        with open(main, "w", encoding="utf-8") as fh:
            fh.write("".join(imports) + print_world(rest))
        imported = load([main])
    # the same accounts (named by their id: an export does not say the account's name)
    assert imported.model.accounts == tuple(dataclasses.replace(a, name=a.id) for a in model.accounts)
    world = World(model)
    requests = [data.draw(requests_for(model)) for _ in range(REQUESTS_PER_WORLD)]
    for r, a, b in zip(requests, world.check_many(requests), imported.check_many(requests)):
        assert (a.decision, [s.id for s in a.statements], a.missing_context) == (
            b.decision, [s.id for s in b.statements], b.missing_context), r


_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(
    ["arn:aws:iam::123456789012:user/u", "arn:aws:iam::123456789012:role/r", "/", "v1",
     "arn:aws:iam::aws:policy/P", "%7B%22Version%22%3A%222012-10-17%22%7D"])
_KEYS = st.sampled_from(["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies", "UserName", "RoleName",
                         "GroupName", "Arn", "Path", "UserId", "PolicyVersionList", "Document", "IsDefaultVersion",
                         "DefaultVersionId", "AttachedManagedPolicies", "PolicyArn", "PermissionsBoundary",
                         "PermissionsBoundaryArn", "Tags", "Key", "Value", "GroupList", "UserPolicyList",
                         "PolicyName", "PolicyDocument", "AssumeRolePolicyDocument", "IsTruncated", "Statement"])
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
                     max_leaves=25)


@settings(max_examples=2000 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 200, deadline=None)
@given(_JSON)
def test_any_json_gives_an_account_or_an_error_never_a_crash(value):
    """Fail closed: whatever the JSON, the reader returns (never raises), and without an account it
    says why in an error."""
    model, diags = authorization_details(json.dumps(value), "e.json")
    assert model.accounts or diags.has_errors()
