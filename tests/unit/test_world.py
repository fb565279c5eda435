"""Worlds: the builder API, loading, the example world, and the checks that need a whole world."""

from __future__ import annotations

import pytest

from iamlogic import InvalidInput, World, load, loads
from iamlogic.grammar.world import parse_world
from iamlogic.world import check_world

from ..conftest import EXAMPLES

DENY_LAMBDA = {"Version": "2012-10-17",
               "Statement": [{"Sid": "DenyLambda", "Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST_MGMT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
              "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}]}


def build_example() -> World:
    """The bundled organization example, made by calls instead of text."""
    w = World()
    org = w.add_organization("o-a1b2c3d4e5", management="management")
    org.add_scp("DenyRedshift", "{ \"Version\": \"2012-10-17\", \"Statement\": "
                "{\"Sid\": \"DenyRedshift\", \"Effect\": \"Deny\", \"Action\": \"redshift:*\", \"Resource\": \"*\"} }")
    org.add_scp("DenyLambda", DENY_LAMBDA)
    org.set_root_id("r-a1b2")
    org.add_ou("Analytics").attach("Analytics", "scp", "DenyRedshift").place("account-a", "Analytics")
    org.add_ou("Analytics/Serverless").attach("Analytics/Serverless", "scp", "DenyLambda")
    org.place("account-b", "Analytics/Serverless")
    org.add_ou("Sandbox").place("account-c", "Sandbox")

    w.add_account("111111111111", "management").add_role(
        "OrganizationAccountAccessRole", trust=TRUST_MGMT, attach=["AdministratorAccess"])
    a = w.add_account("222222222222", "account-a", tags={"Environment": "production"})
    a.add_group("analysts", attach=["ReadOnlyAnalytics"])
    a.add_user("alice", path="/analytics/", tags={"Department": "Data"}, groups=["analysts"])
    a.add_user("bob", attach=["AdministratorAccess"])
    a.add_policy("ReadOnlyAnalytics", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["redshift:Describe*", "s3:GetObject", "s3:ListBucket"], "Resource": "*"}]})
    a.add_resource("arn:aws:s3:::reports-a", tags={"Project": "DataAnalytics"}, policy={
        "Version": "2012-10-17", "Statement": [{
            "Sid": "OrgRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::reports-a/*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]})
    w.add_account("333333333333", "account-b").add_role("Deployer", trust=TRUST_MGMT, attach=["AdministratorAccess"])
    w.add_account("444444444444", "account-c").add_user("carol", attach=["AdministratorAccess"])
    w.add_aws_policy("AdministratorAccess", ADMIN)
    return w


def test_builder_and_text_make_the_same_world():
    loaded = load([str(EXAMPLES / "organization" / "world.iaml")])
    built = build_example()
    # imports come first when loading: compare the parts, then the whole after ordering the same way
    assert built.model.organizations == loaded.model.organizations
    assert set(built.model.accounts) == set(loaded.model.accounts)
    assert built.model.aws_policies == loaded.model.aws_policies
    def facts(w):  # where a statement is written differs, by design
        return sorted(f for f in w.facts() if f[0] != "statement_source")

    assert facts(built) == facts(loaded)


def test_printed_world_loads_back_equal(tmp_path):
    loaded = load([str(EXAMPLES / "organization" / "world.iaml")])
    (tmp_path / "w.iaml").write_text(loaded.to_iaml(), encoding="utf-8")
    assert load([str(tmp_path / "w.iaml")]) == loaded


def test_builder_reports_errors_like_text():
    w = World()
    w.add_account("111122223333", "dev").add_user("alice", groups=["nobody"], boundary="Nope")
    codes = sorted(d.code for d in w.diagnostics() if d.is_error)
    assert codes == ["E315", "E316"]
    with pytest.raises(InvalidInput):
        w.facts()


def test_builder_rejects_malformed_account_id():
    w = World()
    w.add_account("1234", "short")
    assert [d.code for d in w.diagnostics()] == ["E332"]


def test_builder_rejects_invalid_policy_documents():
    w = World()
    with pytest.raises(InvalidInput) as info:
        w.add_account("111122223333", "dev").add_policy("P", {"Statement": [{"Effect": "Permit", "Action": "*"}]})
    assert "E105" in {d.code for d in info.value.diagnostics}


def test_management_account_sits_at_the_root_unless_placed():
    w = load([str(EXAMPLES / "organization" / "world.iaml")])
    facts = set(w.facts())
    assert ("account_parent", "111111111111", "r-a1b2") in facts


def test_default_scps_and_rcps_are_attached_everywhere_unless_detached():
    wf, diags = parse_world('''
organization "o-a1b2c3d4e5" {
  management "m"
  scp AllowS3 { allow s3:* on * }
  root { ou Locked { detach scp FullAWSAccess  scp AllowS3  account "dev" } }
}
account 111111111111 "m"
account 222222222222 "dev"
''')
    from iamlogic.grammar.ast import WorldModel

    world = World(WorldModel(wf.organizations, wf.accounts, wf.aws_policies))
    facts = set(world.facts())
    ou = next(f[1] for f in facts if f[0] == "ou_name" and f[2] == "Locked")
    assert ("scp_attached", ou, "p-FullAWSAccess") not in facts
    assert ("scp_attached", ou, "o-a1b2c3d4e5/scp/AllowS3") in facts
    assert ("rcp_attached", ou, "p-RCPFullAWSAccess") in facts
    assert ("scp_attached", "222222222222", "p-FullAWSAccess") in facts
    assert ("rcp_attached", "222222222222", "p-RCPFullAWSAccess") in facts


def test_kms_key_policies_are_validated_as_key_policies():
    """The same document is a key policy on a KMS key (whose Resource should be "*", W228) and an
    ordinary resource policy on a queue."""
    from iamlogic.grammar.ast import WorldModel

    def codes(arn: str) -> list[str]:
        wf, _ = parse_world(f'''
account 111122223333 "dev" {{
  resource "{arn}" {{
    policy {{ allow kms:Decrypt on "{arn}" principal aws "arn:aws:iam::111122223333:root" }}
  }}
}}''')
        return [d.code for d in check_world(WorldModel(accounts=wf.accounts))]

    assert "W228" in codes("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert "W228" not in codes("arn:aws:sqs:us-east-1:111122223333:jobs")


def test_every_example_world_validates():
    for world in sorted(EXAMPLES.rglob("*.iaml")):
        try:
            load([str(world)])
        except InvalidInput as exc:  # pragma: no cover - the message is the point
            pytest.fail(exc.render())


def test_loads_builds_a_world_from_text_and_refuses_imports():
    from iamlogic import loads

    w = loads('account 111122223333 "dev" { user alice }')
    assert w.model.accounts[0].users[0].name == "alice"
    with pytest.raises(InvalidInput) as info:
        loads('import "other.iaml"\naccount 111122223333 "dev"')
    assert [d.code for d in info.value.diagnostics] == ["E330"]


def test_a_file_that_is_not_utf8_is_reported_at_its_first_bad_byte(tmp_path):
    world = tmp_path / "w.iaml"
    world.write_bytes(b'account 111122223333 "dev" {\n  user caf\xe9\n}\n')
    with pytest.raises(InvalidInput) as exc:
        load([str(world)])
    (d,) = exc.value.diagnostics
    assert (d.code, d.span.file, d.span.line, d.span.col) == ("E320", str(world), 2, 11)
    assert "not UTF-8 text (byte 0xe9)" in d.message


def test_a_folder_stands_for_its_world_files(tmp_path):
    folder = EXAMPLES / "organization"  # world.iaml, and policies.iaml that it imports (read once)
    assert load([str(folder)]).model == load([str(folder / "world.iaml")]).model
    with pytest.raises(InvalidInput, match="holds no world file"):
        load([str(tmp_path)])


def test_an_ou_id_written_as_the_one_another_ou_is_given_is_e358():
    # the id iamlogic makes for Locked, written for Open: the two OUs (and Locked's SCP) must not merge
    from iamlogic.world import _short_hash

    made = f"ou-ab12-{_short_hash('o-aaaaaaaaaa/Locked', 8)}"
    text = ('organization "o-aaaaaaaaaa" {\n  management "mgmt"\n  scp DenyAll { deny * on * }\n'
            f'  root "r-ab12" {{\n    ou Open id "{made}" {{ account "open" }}\n'
            '    ou Locked { scp DenyAll account "locked" }\n  }\n}\n'
            'account 111111111111 "mgmt"\naccount 222222222222 "open"\n'
            'account 333333333333 "locked" { user u { policy P { allow s3:GetObject on * } } }\n')
    with pytest.raises(InvalidInput, match="E358"):
        loads(text)


def test_an_unknown_group_or_policy_is_reported_where_its_name_is_written():
    text = '''account 111122223333 "dev" {
  group devs { attach Nope1 }
  user alice {
    groups devs
    groups nogroup
    attach Nope2
    boundary Nope3
  }
  role r { boundary Nope2 }
}
'''
    wf, diags = parse_world(text)
    found = sorted((d.code, d.span.line, d.span.col, d.message.split("'")[1]) for d in check_world(wf.as_model())
                   if d.code in ("E315", "E316"))
    assert found == [("E315", 2, 16, "Nope1"), ("E315", 6, 5, "Nope2"), ("E315", 7, 5, "Nope3"),
                     ("E315", 9, 12, "Nope2"), ("E316", 5, 5, "nogroup")]
    # a model built in Python has no place for the names: the declaration is the place
    from dataclasses import replace

    model = wf.as_model()
    account = model.accounts[0]
    bare = replace(model, accounts=(replace(account, users=tuple(replace(u, ref_spans=()) for u in account.users)),))
    spans = {d.message.split("'")[1]: (d.span.line, d.span.col) for d in check_world(bare) if d.code == "E316"}
    assert spans == {"nogroup": (3, 3)}
