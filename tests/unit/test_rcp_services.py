"""RCPs restrict the resources of the services AWS lists, and not kms:RetireGrant: the decision,
its layers, its warnings, every path to it, and the world's own list (``aws rcp_services``)."""

from __future__ import annotations

import pytest

import iamlogic
from iamlogic.catalog import RCP_SERVICES, Catalog
from iamlogic.cli import main
from iamlogic.evaluate import _RCP_SERVICES_NOTE
from iamlogic.grammar.printer import print_world
from iamlogic.validate import validate_policy

WORLD = '''
organization "o-rcpsvc12345" {
  management "mgmt"
  rcp Lockdown { sid "NoChanges" deny ec2:TerminateInstances, s3:DeleteBucket, kms:* on * principal * }
  root { rcp Lockdown  account "data" }
}
account 111111111111 "mgmt"
account 222222222222 "data" {
  user ops { attach Admin }
  policy Admin { allow * on * }
  resource "arn:aws:kms:us-east-1:222222222222:key/k1" {
    policy { sid "Admins" allow kms:* on * principal aws "arn:aws:iam::222222222222:root" }
  }
}
'''
OPS = "arn:aws:iam::222222222222:user/ops"
INSTANCE = "arn:aws:ec2:us-east-1:222222222222:instance/i-0abc"
BUCKET = "arn:aws:s3:::data-bucket"
KEY = "arn:aws:kms:us-east-1:222222222222:key/k1"
# (action, resource, decision, whether the decision warns that the RCP was passed over)
CASES = [
    ("ec2:TerminateInstances", INSTANCE, "Allow", True),
    ("ec2:StartInstances", INSTANCE, "Allow", False),
    ("s3:DeleteBucket", BUCKET, "ExplicitDeny", False),
    ("kms:Decrypt", KEY, "ExplicitDeny", False),
    ("kms:RetireGrant", KEY, "Allow", True),
]


@pytest.fixture(scope="module")
def world():
    return iamlogic.loads(WORLD, "w.iaml")


def _passed_over(decision) -> bool:
    return any("'NoChanges' of rcp policy Lockdown" in w and "RCPs do not restrict" in w for w in decision.warnings)


@pytest.mark.parametrize("action,resource,expected,warns", CASES)
def test_an_rcp_restricts_only_what_rcps_restrict(world, action, resource, expected, warns):
    d = world.check(OPS, action, resource)
    assert d.decision == expected
    assert _passed_over(d) == warns
    rcp_layers = [v for v in d.layers if v.layer.startswith("RCP ")]
    covered = action.split(":")[0] in dict(RCP_SERVICES) and action != "kms:RetireGrant"
    assert bool(rcp_layers) == covered  # no RCP level takes part in a request RCPs do not restrict
    assert covered or "RCPFullAWSAccess" not in [s.policy_name for s in d.statements]


def test_every_path_gives_the_same_decision_and_warnings(world):
    """check, check_many (requests of one principal and action solved together), the batch's
    verdicts_many and pyDatalog agree, the warning included."""
    items = [(OPS, action, resource) for action, resource, _, _ in CASES for _ in range(9)]
    one = [world.check(*item) for item in items]
    many = world.check_many(items)
    ev = world.evaluator()
    verdicts = ev.verdicts_many([(*item, None, None, None) for item in items])
    engine = ev.decide([ev.resolve(*item) for item in items[::9]], engine=True)
    assert [(d.decision, d.statements, d.warnings) for d in one] == [
        (d.decision, d.statements, d.warnings) for d in many]
    assert [(d.decision, d.statements, d.missing_context, d.warnings) for d in one] == verdicts
    assert [(d.decision, d.statements, d.warnings) for d in one[::9]] == [
        (d.decision, d.statements, d.warnings) for d in engine]


def test_a_world_declares_the_services_rcps_restrict(world):
    declared = iamlogic.loads(WORLD + 'aws rcp_services "s3", "ec2"\n', "w.iaml")
    assert declared.check(OPS, "ec2:TerminateInstances", INSTANCE).decision == "ExplicitDeny"
    d = declared.check(OPS, "kms:Decrypt", KEY)  # kms is no longer listed
    assert (d.decision, _passed_over(d)) == ("Allow", True)
    assert iamlogic.loads(print_world(declared.model), "again.iaml").model == declared.model
    built = iamlogic.loads(WORLD, "w.iaml").set_rcp_services(["s3", "ec2"])  # the library's builder
    assert built.model == declared.model
    assert built.check(OPS, "ec2:TerminateInstances", INSTANCE).decision == "ExplicitDeny"


def test_the_shipped_list_is_of_known_service_prefixes():
    catalog = Catalog.default()
    assert [p for p, _ in RCP_SERVICES if not catalog.has_service(p)] == []


def test_validation_reads_the_worlds_list():
    rcp = iamlogic.loads(WORLD, "w.iaml").model.organizations[0].policies[0][1].document
    codes = [(d.code, d.message) for d in validate_policy(rcp, "rcp")]
    assert codes == [("W229", "RCPs do not restrict the resources of 'ec2': 'ec2:TerminateInstances' denies "
                              "nothing")]
    assert [d.code for d in validate_policy(rcp, "rcp", rcp_services=("ec2", "s3"))] == ["W229"]  # kms now
    assert validate_policy(rcp, "rcp", rcp_services=("ec2", "s3", "kms")) == []


def test_check_prints_the_warnings_of_a_summary(tmp_path, capsys):
    path = tmp_path / "w.iaml"
    path.write_text(WORLD, encoding="utf-8")
    code = main(["check", str(path), "--principal", OPS, "--action", "ec2:TerminateInstances",
                 "--resource", INSTANCE])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Allow: ")
    assert "warnings:\n  Deny statement 0 'NoChanges' of rcp policy Lockdown" in out


def test_requests_sharing_the_compiled_rules_answer_each_name_their_own_action():
    """Requests of two actions whose compiled answers are equal (the same leaf of the solver's
    tree, kept once) still each get the warning that names their own action."""
    world = iamlogic.loads(WORLD.replace("deny ec2:TerminateInstances,", "deny ec2:*,"), "w.iaml")
    for action in ("ec2:StartInstances", "ec2:StopInstances"):
        for n in range(4):
            d = world.check(OPS, action, f"{INSTANCE}{n}")
            assert d.decision == "Allow"
            assert [w for w in d.warnings if "RCPs do not restrict" in w] == [
                f"Deny statement 0 'NoChanges' of rcp policy Lockdown (w.iaml:4:18) lists {action}, which RCPs do "
                f"not restrict: {_RCP_SERVICES_NOTE}"]
    assert world.evaluator()._solver.reused >= 2
