"""Deciding requests: principal forms, the same-account principal table, sessions, isolation."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import iamlogic
from iamlogic import InvalidInput, World
from iamlogic.analysis import who_can
from iamlogic.grammar.ast import WorldModel
from iamlogic.grammar.world import parse_world

WORLD = '''
account 111122223333 "dev" {
  user alice { tags { team = "red" } }
  user bounded { boundary OnlyEc2 }
  user federator { policy P { allow s3:* on * } }
  role Worker { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" } }
  role BoundedWorker {
    boundary OnlyEc2
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" }
  }
  policy OnlyEc2 { allow ec2:* on * }
  resource "arn:aws:s3:::by-user" { policy {
    allow s3:GetObject on "arn:aws:s3:::by-user/*" principal aws "arn:aws:iam::111122223333:user/alice",
      aws "arn:aws:iam::111122223333:user/bounded"
  } }
  resource "arn:aws:s3:::by-role" { policy {
    allow s3:GetObject on "arn:aws:s3:::by-role/*" principal aws "arn:aws:iam::111122223333:role/Worker",
      aws "arn:aws:iam::111122223333:role/BoundedWorker"
  } }
  resource "arn:aws:s3:::by-session" { policy {
    allow s3:GetObject on "arn:aws:s3:::by-session/*"
      principal aws "arn:aws:sts::111122223333:assumed-role/BoundedWorker/s1"
  } }
  resource "arn:aws:s3:::by-account" { policy {
    allow s3:GetObject on "arn:aws:s3:::by-account/*" principal aws "111122223333"
  } }
  resource "arn:aws:s3:::by-federated" { policy {
    allow s3:GetObject on "arn:aws:s3:::by-federated/*" principal aws "arn:aws:sts::111122223333:federated-user/fed"
  } }
  resource "arn:aws:s3:::public" { policy { allow s3:GetObject on "arn:aws:s3:::public/*" principal * } }
}
'''


@pytest.fixture(scope="module")
def world() -> World:
    wf, diags = parse_world(WORLD)
    assert not diags.has_errors(), diags.render({"<input>": WORLD})
    return World(WorldModel(accounts=wf.accounts))


SESSION_EC2_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}


# aws-semantics §1.3: which implicit denies a same-account resource-policy allow overcomes.
@pytest.mark.parametrize("principal,resource,kw,expected", [
    # IAM user ARN named: no identity policy needed, the boundary does not limit
    ("arn:aws:iam::111122223333:user/alice", "by-user", {}, "Allow"),
    ("arn:aws:iam::111122223333:user/bounded", "by-user", {}, "Allow"),
    # role ARN named: identity not needed; the boundary and the session policy limit
    ("arn:aws:sts::111122223333:assumed-role/Worker/s1", "by-role", {}, "Allow"),
    ("arn:aws:sts::111122223333:assumed-role/BoundedWorker/s1", "by-role", {}, "ImplicitDeny"),
    ("arn:aws:sts::111122223333:assumed-role/Worker/s1", "by-role", {"session_policy": SESSION_EC2_ONLY}, "ImplicitDeny"),
    # role session ARN named: nothing limits
    ("arn:aws:sts::111122223333:assumed-role/BoundedWorker/s1", "by-session", {}, "Allow"),
    ("arn:aws:sts::111122223333:assumed-role/BoundedWorker/s1", "by-session", {"session_policy": SESSION_EC2_ONLY}, "Allow"),
    ("arn:aws:sts::111122223333:assumed-role/BoundedWorker/other", "by-session", {}, "ImplicitDeny"),
    # federated-user session ARN named: nothing limits, not even a session policy that does not allow
    ("arn:aws:sts::111122223333:federated-user/fed", "by-federated",
     {"federating_user": "arn:aws:iam::111122223333:user/federator", "session_policy": SESSION_EC2_ONLY}, "Allow"),
    # the account named: it delegates, the identity policy must allow
    ("arn:aws:iam::111122223333:user/alice", "by-account", {}, "ImplicitDeny"),
    ("arn:aws:iam::111122223333:user/federator", "by-account", {}, "Allow"),
    # "*": public
    ("anonymous", "public", {}, "Allow"),
    ("arn:aws:iam::111122223333:user/bounded", "public", {}, "Allow"),
])
def test_same_account_principal_table(world, principal, resource, kw, expected):
    d = world.check(principal, "s3:GetObject", f"arn:aws:s3:::{resource}/k", **kw)
    assert d.decision == expected, d.explain("blockers")


def test_a_session_policy_is_validated_as_one(world):
    session = "arn:aws:sts::111122223333:assumed-role/Worker/s1"
    with_principal = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]}
    with pytest.raises(InvalidInput, match="E204"):  # AWS STS refuses it: no decision
        world.check(session, "s3:GetObject", "arn:aws:s3:::by-role/k", session_policy=with_principal)
    unknown = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}
    d = world.check(session, "s3:GetObject", "arn:aws:s3:::by-role/k", session_policy=unknown)
    assert any(n.startswith("session policy: W") for n in d.warnings), d.warnings  # its warnings come with the decision


def test_federated_user_without_session_policy_has_no_permissions(world):
    fed = "arn:aws:sts::111122223333:federated-user/fed"
    user = "arn:aws:iam::111122223333:user/federator"
    assert world.check(fed, "s3:ListBucket", "*", federating_user=user).decision == "ImplicitDeny"
    s3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
    assert world.check(fed, "s3:ListBucket", "*", federating_user=user, session_policy=s3).decision == "Allow"
    assert world.check(fed, "ec2:DescribeInstances", "*", federating_user=user,
                       session_policy=SESSION_EC2_ONLY).decision == "ImplicitDeny"


def test_the_federating_user_is_an_iam_user_of_the_sessions_account(world):
    fed = "arn:aws:sts::111122223333:federated-user/fed"
    s3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
    by_name = world.check(fed, "s3:ListBucket", "*", federating_user="federator", session_policy=s3)
    assert by_name.decision == "Allow" and "session" in {s.policy_kind for s in by_name.statements}
    for who, words in [("arn:aws:iam::111122223333:role/Worker", "cannot have federated"),  # roles cannot call it
                       ("arn:aws:iam::999999999999:user/federator", "cannot have federated"),  # another account
                       ("arn:aws:iam::111122223333:root", "unsupported: a federated-user session of the root user"),
                       (None, "needs the IAM user")]:
        with pytest.raises(InvalidInput, match="E503") as exc:
            world.check(fed, "s3:ListBucket", "*", federating_user=who, session_policy=s3)
        assert words in str(exc.value)
    with pytest.raises(InvalidInput, match="E504.*'federatr' is not a user of account 111122223333"):
        world.check(fed, "s3:ListBucket", "*", federating_user="federatr", session_policy=s3)


def test_a_resource_of_another_partition_is_refused(world):
    with pytest.raises(InvalidInput, match="E513: unsupported: a resource of partition aws-us-gov"):
        world.check("alice", "s3:GetObject", "arn:aws-us-gov:s3:::by-user/k")
    world.check("alice", "s3:GetObject", "arn:*:s3:::by-user/*")  # a pattern, as diff asks: no error


def test_session_tags_need_a_trust_policy_that_allows_tag_session(world):
    d = world.check("arn:aws:sts::111122223333:assumed-role/Worker/s1", "s3:GetObject", "arn:aws:s3:::by-role/k",
                    {"aws:PrincipalTag/team": "x"})
    assert any("does not allow sts:TagSession" in w for w in d.warnings), d.warnings
    d = world.check("arn:aws:sts::111122223333:assumed-role/Worker/s1", "s3:GetObject", "arn:aws:s3:::by-role/k")
    assert not any("TagSession" in w for w in d.warnings)


def test_a_web_identity_calls_only_the_sts_operations_its_token_is_for():
    w = iamlogic.loads('''
account 111111111111 "a" {
  role Open { trust { allow sts:AssumeRole, sts:AssumeRoleWithWebIdentity principal * } policy P { allow s3:* on * } }
  resource "arn:aws:s3:::pub" { policy { allow s3:GetObject on "arn:aws:s3:::pub/*" principal * } }
}''')
    open_role = "arn:aws:iam::111111111111:role/Open"
    assert w.check("accounts.google.com", "sts:AssumeRoleWithWebIdentity", open_role).decision == "Allow"
    for action, resource in [("sts:AssumeRole", open_role), ("s3:GetObject", "arn:aws:s3:::pub/k")]:
        d = w.check("accounts.google.com", action, resource)
        assert d.decision == "ImplicitDeny" and any(v.layer == "service" for v in d.layers), (action, d)
    with pytest.raises(InvalidInput, match="E513: unsupported: a principal of partition aws-us-gov"):
        w.check("arn:aws-us-gov:sts::111111111111:assumed-role/Open/s", "s3:GetObject", "arn:aws:s3:::pub/k")


def test_a_session_carries_session_tags_only_when_its_roles_trust_allows_tag_session():
    w = iamlogic.loads('''
account 111111111111 "a" {
  role Tagged { tags { team = "blue" }  trust { allow sts:AssumeRole, sts:TagSession principal aws "111111111111" }
                policy P { allow s3:GetObject on * when StringEquals aws:PrincipalTag/team "blue" } }
  role Plain { tags { team = "blue" }  trust { allow sts:AssumeRole principal aws "111111111111" }
               policy P { allow s3:GetObject on * when StringEquals aws:PrincipalTag/team "blue" } }
}''')
    red = {"aws:PrincipalTag/team": "red"}
    tagged = w.check("arn:aws:sts::111111111111:assumed-role/Tagged/s", "s3:GetObject", "arn:aws:s3:::b/k", red)
    plain = w.check("arn:aws:sts::111111111111:assumed-role/Plain/s", "s3:GetObject", "arn:aws:s3:::b/k", red)
    assert tagged.decision == "ImplicitDeny"  # the session tag overrides the role's
    assert plain.decision == "Allow" and any("not used" in n and "sts:TagSession" in n for n in plain.warnings)


def test_principal_forms(world):
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::by-user/k").principal.endswith(":user/alice")
    assert world.check("111122223333", "s3:GetObject", "*").decision == "Allow"  # the root user
    with pytest.raises(InvalidInput):
        world.check("arn:aws:iam::111122223333:user/nobody", "s3:GetObject", "*")
    with pytest.raises(InvalidInput):
        world.check("arn:aws:sts::111122223333:federated-user/fed", "s3:GetObject", "*")  # who federated?
    with pytest.raises(InvalidInput):
        world.check("alice", "s3:GetObject", "*", session_policy=SESSION_EC2_ONLY)  # not a session


def test_trust_policy_must_name_the_principal(world):
    d = world.check("111122223333", "sts:AssumeRole", "arn:aws:iam::111122223333:role/Worker")
    # the trust policy names the account, but AWS STS refuses the root user any role
    assert d.decision == "ImplicitDeny" and [v.layer for v in d.blockers()] == ["service"]
    d = world.check("arn:aws:iam::111122223333:user/federator", "sts:AssumeRole", "arn:aws:iam::111122223333:role/Worker")
    assert d.decision == "ImplicitDeny"  # the trust policy names the account: the identity policy must allow


def test_check_and_check_many_agree(world):
    reqs = [("alice", a, r) for a in ("s3:GetObject", "ec2:RunInstances")
            for r in ("*", "arn:aws:s3:::by-user/k", "arn:aws:s3:::public/x")]
    many = [d.decision for d in world.check_many(reqs)]
    assert many == [world.check(*r).decision for r in reqs]


def test_check_many_answers_in_the_order_asked():
    # decided grouped by principal and action, in parts: every answer still goes to its request
    principals = ["bounded", "alice", "arn:aws:iam::111122223333:user/federator"]
    actions = ["s3:GetObject", "ec2:RunInstances", "s3:PutObject"]
    reqs = [(principals[i % 3], actions[i // 3 % 3], f"arn:aws:s3:::by-user/k{i}") for i in range(600)]
    model = WorldModel(accounts=parse_world(WORLD)[0].accounts)
    many = World(model).check_many(list(reversed(reqs)))
    one_by_one = World(model)
    for (principal, action, resource), d in zip(reversed(reqs), many):
        assert (d.action, d.resource) == (action, resource)
        assert d.decision == one_by_one.check(principal, action, resource).decision


def test_check_many_refuses_a_request_tuple_of_another_length(world):
    with pytest.raises(TypeError, match="principal, action, resource"):
        world.check_many([("alice", "s3:GetObject", "*", None, "extra")])
    with pytest.raises(TypeError, match="principal, action, resource"):
        world.check_many([("alice", "s3:GetObject")])


def test_decision_explanations(world):
    d = world.check("alice", "s3:GetObject", "arn:aws:s3:::by-user/k")
    assert d.statements and "by-user" in d.statements[0].policy_name
    assert "derivation:" in d.explain("full") and "decision(" in d.explain("full")
    deny = world.check("alice", "s3:PutObject", "arn:aws:s3:::by-user/k")
    assert deny.decision == "ImplicitDeny" and not deny.statements
    assert {v.layer for v in deny.blockers()} >= {"identity-based policies"}


def test_two_worlds_never_mix_even_across_threads():
    def make(allowed: str) -> World:
        w = World()
        w.add_account("111122223333", "dev").add_user("alice", policies={"p": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}})
        return w

    a, b = make("s3:GetObject"), make("ec2:RunInstances")
    results = {}

    def run(name, w, action):
        results[name] = [w.check("alice", action, "*").decision for _ in range(5)]

    threads = [threading.Thread(target=run, args=("a", a, "s3:GetObject")),
               threading.Thread(target=run, args=("b", b, "s3:GetObject"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": ["Allow"] * 5, "b": ["ImplicitDeny"] * 5}


def test_not_principal_never_exempts_a_role_given_by_its_arn():
    """Regression (found by the benchmark): a request comes from a session of the role, and a
    Deny + NotPrincipal that lists the account and the role but not the session still applies."""
    from tests.reference import reference_decide

    w = World()
    a = w.add_account("111122223333", "dev")
    a.add_role("r0", trust={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}]})
    queue = "arn:aws:sqs:us-east-1:111122223333:jobs1"
    a.add_resource(queue, policy={"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": queue,
        "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/r0"]}}]})
    role = "arn:aws:iam::111122223333:role/r0"
    assert w.check(role, "sqs:DeleteMessage", queue).decision == "ExplicitDeny"
    assert reference_decide(w.model, role, "sqs:DeleteMessage", queue) == "ExplicitDeny"


def test_prepare_works_out_what_requests_alike_ask_of_the_world():
    wf, _ = parse_world(WORLD)
    world = World(WorldModel(accounts=wf.accounts))
    before = {(p, a, r): world.check(p, a, r).decision
              for p in ("alice", "bounded", "Worker") for a in ("s3:GetObject", "ec2:RunInstances")
              for r in ("arn:aws:s3:::by-user/k", "arn:aws:s3:::public/k")}
    fresh = World(WorldModel(accounts=wf.accounts)).evaluator()
    fresh.decide_one("alice", "s3:GetObject", "arn:aws:s3:::by-user/k")
    world = World(WorldModel(accounts=wf.accounts))
    solved = world.prepare()
    ev = world.evaluator()
    kept = dict(ev._solver._world_memo)
    # every principal with every action named (s3:GetObject, sts:AssumeRole), and every resource with a policy
    assert solved == len(ev.index.principals) * 2 + len(ev.index.policy_holders) * 2
    # a request of a principal and an action named, on a resource with a policy: the statements
    # of its sources that list the action are known; what is left is its own (the statement that applied)
    world.check("alice", "s3:GetObject", "arn:aws:s3:::by-user/k")
    new = ev._solver._world_memo.keys() - kept.keys()
    assert len(new) < len(fresh._solver._world_memo), new
    assert {(p, a, r): world.check(p, a, r).decision for p, a, r in before} == before


def test_check_many_pauses_the_garbage_collector_and_leaves_it_as_it_was(world, monkeypatch):
    import gc

    from iamlogic.evaluate import collector_paused

    seen = []
    requests = [("alice", "s3:GetObject", "arn:aws:s3:::b/k")]
    ev = world.evaluator()
    original = ev.decide_many
    monkeypatch.setattr(ev, "decide_many", lambda items: seen.append(gc.isenabled()) or original(items))
    assert gc.isenabled()
    world.check_many(requests)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        world.evaluator().forget()
        world.check_many(requests)
        assert not gc.isenabled()
    finally:
        gc.enable()
    # pauses that overlap (two threads deciding at once): the collector is on again only after the last
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


USERID_WORLD = '''
account 111122223333 "dev" {
  user alice {
    id "AIDAJQABLZS4A3QDU576Q"
    policy P {
      allow s3:GetObject on *
      deny s3:GetObject on "arn:aws:s3:::secret/*" when StringLike aws:userid "AIDA*"
    }
  }
  user bob {
    policy P {
      allow s3:GetObject on *
      deny s3:GetObject on "arn:aws:s3:::secret/*" when StringLike aws:userid "AIDA*"
    }
  }
  user carol {
    policy P { allow s3:GetObject on "arn:aws:s3:::home/${aws:userid}/*" }
  }
  role app {
    id "AROAJQABLZS4A3QDU576Q"
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy P { allow s3:GetObject on "arn:aws:s3:::home/${aws:userid}/*" }
  }
  role anon {
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy P { allow s3:GetObject on "arn:aws:s3:::home/${aws:userid}/*" }
  }
  role lister {
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy P { allow s3:ListBucket on * when StringLike aws:userid "AROA*" }
  }
  resource "arn:aws:s3:::drop" { policy {
    allow s3:PutObject on "arn:aws:s3:::drop/*" principal * when StringEquals aws:userid "anonymous"
  } }
}
'''


@pytest.fixture(scope="module")
def userid_world() -> World:
    wf, diags = parse_world(USERID_WORLD)
    assert not diags.has_errors(), diags.render({"<input>": USERID_WORLD})
    return World(WorldModel(accounts=wf.accounts))


def test_aws_userid_is_the_declared_unique_id_of_a_user_and_of_a_role_session(userid_world):
    """IAM guide, reference_policies_variables ("Information available in requests"): aws:userid
    is a user's unique id, ROLE-ID:SESSION-NAME for a role session, and "anonymous" for an
    anonymous caller."""
    w, session = userid_world, "arn:aws:sts::111122223333:assumed-role/app/s1"
    assert w.check("alice", "s3:GetObject", "arn:aws:s3:::secret/k").decision == "ExplicitDeny"
    assert w.check("alice", "s3:GetObject", "arn:aws:s3:::open/k").decision == "Allow"
    assert w.check(session, "s3:GetObject", "arn:aws:s3:::home/AROAJQABLZS4A3QDU576Q:s1/k").decision == "Allow"
    assert w.check(session, "s3:GetObject", "arn:aws:s3:::home/AROAJQABLZS4A3QDU576Q:s2/k").decision == "ImplicitDeny"
    assert w.check("anonymous", "s3:PutObject", "arn:aws:s3:::drop/k").decision == "Allow"
    # the world decides the key: a value given for it is not used
    d = w.check("alice", "s3:GetObject", "arn:aws:s3:::secret/k", {"aws:userid": "x"})
    assert d.decision == "ExplicitDeny" and any("determined by the world" in n for n in d.warnings)


@pytest.mark.parametrize("principal,resource,says,elsewhere", [
    ("bob", "arn:aws:s3:::secret/k", "the unique id of arn:aws:iam::111122223333:user/bob", "Allow"),
    ("arn:aws:sts::111122223333:assumed-role/anon/s1", "arn:aws:s3:::home/AROAANONXS4A3QDU576Q:s1/k",
     "the unique id of arn:aws:iam::111122223333:role/anon", "ImplicitDeny"),
    ("arn:aws:iam::111122223333:role/app", "arn:aws:s3:::home/AROAJQABLZS4A3QDU576Q:s9/k",
     "the name of the session of", "ImplicitDeny"),
])
def test_a_policy_that_reads_a_unique_id_the_world_does_not_give_is_an_error(userid_world, principal, resource, says,
                                                                               elsewhere):
    """Never decided as a missing key: AWS always sets aws:userid for users and role sessions, so a
    Deny that reads it would be passed over where AWS applies it."""
    w = userid_world
    for decide in (lambda: w.check(principal, "s3:GetObject", resource),
                   lambda: w.check_many([(principal, "s3:GetObject", resource)]),
                   lambda: w.evaluator().decide([w.evaluator().resolve(principal, "s3:GetObject", resource)],
                                                engine=True)):
        with pytest.raises(InvalidInput) as exc:
            decide()
        diag = exc.value.diagnostics[0]
        assert diag.code == "E507" and says in diag.message and "reads aws:userid" in diag.message
        assert diag.span is not None and diag.span.file == "<input>"
    # decided where no value could change the answer: bob's Deny is on another resource, and no
    # aws:userid makes home/${aws:userid}/* match open/k
    assert w.check(principal, "s3:GetObject", "arn:aws:s3:::open/k").decision == elsewhere
    # the key given by the caller is used
    given = "AIDAEXAMPLE0000000000" if principal == "bob" else "AROAEXAMPLE000000000:s1"
    expected = "ExplicitDeny" if principal == "bob" else "ImplicitDeny"
    assert w.check(principal, "s3:GetObject", resource, {"aws:userid": given}).decision == expected


@pytest.mark.parametrize("principal", ["carol", "arn:aws:iam::111122223333:role/app",
                                       "arn:aws:sts::111122223333:assumed-role/anon/s1",
                                       "arn:aws:iam::111122223333:role/anon"])
def test_a_resource_variable_no_unique_id_could_fill_is_passed_over(userid_world, principal):
    """A unique id starts with its kind's prefix (AIDA for a user, AROA for a role), and a role
    session's aws:userid with its role's id and ':' (IAM guide, reference_identifiers, "Unique
    identifiers"): home/${aws:userid}/* cannot match another kind's or another role's home, whatever
    the id or session name the world does not give."""
    w = userid_world
    for home in ("home/AIDAEXAMPLE0000000000/k", "home/AROAOTHERXS4A3QDU576Q:s1/k"):
        if (principal == "carol") == home.startswith("home/AIDA") and "/app" not in principal:
            continue  # as far as the world knows, this may be the principal's own home
        assert w.check(principal, "s3:GetObject", f"arn:aws:s3:::{home}").decision == "ImplicitDeny"


_HOME = st.tuples(st.sampled_from(["", "AIDA", "AIDAJQABLZS4A3QDU576Q", "AROA", "AROAJQABLZS4A3QDU576Q",
                                   "AROAJQABLZS4A3QDU576Q:", "AROAOTHERXS4A3QDU576Q:"]),
                  st.text("s1:/-", max_size=4)).map(lambda t: f"arn:aws:s3:::home/{t[0]}{t[1]}/k")


@given(_HOME, st.lists(st.text("s1-", min_size=1, max_size=3), min_size=1, max_size=4))
def test_a_principal_decided_without_its_unique_id_is_decided_so_for_every_id(userid_world, resource, names):
    """Soundness of deciding without the value: a role given by its ARN, decided, is decided the
    same for each of its sessions; a user or role session without a declared id, decided, is decided
    the same for each id of its kind given as context."""
    w, action = userid_world, "s3:GetObject"
    cases = [("arn:aws:iam::111122223333:role/app",
              [(f"arn:aws:sts::111122223333:assumed-role/app/{n}", None) for n in names]),
             ("carol", [("carol", {"aws:userid": f"AIDA{n.upper()}"}) for n in names]),
             ("arn:aws:sts::111122223333:assumed-role/anon/s1",
              [("arn:aws:sts::111122223333:assumed-role/anon/s1", {"aws:userid": f"AROA{n.upper()}:s1"})
               for n in names])]
    for principal, instances in cases:
        try:
            decided = w.check(principal, action, resource).decision
        except InvalidInput:
            continue
        for p, context in instances:
            assert w.check(p, action, resource, context).decision == decided, (principal, p, context)


def test_prepare_passes_over_its_requests_that_read_what_the_world_does_not_give():
    """World.prepare asks for each role given as a role, whose session's aws:userid is unknown."""
    wf, _ = parse_world(USERID_WORLD)
    w = World(WorldModel(accounts=wf.accounts))
    assert w.prepare() > 0
    session = "arn:aws:sts::111122223333:assumed-role/app/s1"
    assert w.check(session, "s3:GetObject", "arn:aws:s3:::home/AROAJQABLZS4A3QDU576Q:s1/k").decision == "Allow"
    with pytest.raises(InvalidInput):
        w.check("arn:aws:iam::111122223333:role/lister", "s3:ListBucket", "arn:aws:s3:::b")


ROLE_ONLY_BUCKET = '''
account 111122223333 "dev" {
  role app {
    id "AROAJQABLZS4A3QDU576Q"
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy P { allow s3:* on * }
  }
  role other {
    id "AROAOTHERXS4A3QDU576Q"
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy P { allow s3:* on * }
  }
  resource "arn:aws:s3:::b" { policy {
    deny s3:* on "arn:aws:s3:::b/*" principal *
      when StringNotLike aws:userid ["AROAJQABLZS4A3QDU576Q:*", "111122223333"]
    deny s3:PutObject on "arn:aws:s3:::b/*" principal * when StringLike aws:userid "AROAJQABLZS4A3QDU576Q:ci-*"
  } }
}
'''


def test_a_role_given_by_its_arn_is_decided_where_its_session_name_does_not_matter():
    """The bucket policy that lets one role in (StringNotLike ROLE-ID:*) holds whatever the
    session's name; a condition on the name itself cannot be decided for a role given by its ARN."""
    wf, _ = parse_world(ROLE_ONLY_BUCKET)
    w = World(WorldModel(accounts=wf.accounts))
    app, other = "arn:aws:iam::111122223333:role/app", "arn:aws:iam::111122223333:role/other"
    assert w.check(app, "s3:GetObject", "arn:aws:s3:::b/k").decision == "Allow"
    d = w.check(other, "s3:GetObject", "arn:aws:s3:::b/k")
    assert d.decision == "ExplicitDeny" and [s.index for s in d.statements] == [0]
    assert w.check("arn:aws:iam::111122223333:root", "s3:GetObject", "arn:aws:s3:::b/k").decision == "Allow"
    with pytest.raises(InvalidInput, match="E507"):
        w.check(app, "s3:PutObject", "arn:aws:s3:::b/k")
    assert w.check("arn:aws:sts::111122223333:assumed-role/app/ci-7", "s3:PutObject",
                   "arn:aws:s3:::b/k").decision == "ExplicitDeny"
    assert w.check("arn:aws:sts::111122223333:assumed-role/app/web", "s3:PutObject",
                   "arn:aws:s3:::b/k").decision == "Allow"


def test_a_context_key_in_two_spellings_is_an_error_and_the_cli_merges_them(world):
    with pytest.raises(InvalidInput, match="E514"):
        world.check("alice", "s3:GetObject", "*", {"aws:SourceIp": "10.0.0.1", "aws:sourceip": "10.0.0.2"})
    from iamlogic.cli import parse_context

    assert parse_context(["aws:SourceIp=10.0.0.1", "aws:sourceip=10.0.0.2"]) == {"aws:SourceIp": ["10.0.0.1", "10.0.0.2"]}


def test_a_kms_alias_is_no_resource_to_decide_on():
    wf, _ = parse_world('account 111122223333 "dev" {\n'
                        '  user alice { policy P { allow kms:* on * } }\n'
                        '  resource "arn:aws:kms:us-east-1:111122223333:key/k1" { policy { allow kms:* on * principal aws "111122223333" } }\n'
                        '}\n')
    world = World(WorldModel(accounts=wf.accounts))
    alias = "arn:aws:kms:us-east-1:111122223333:alias/a"
    assert world.check("alice", "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k1").allowed
    with pytest.raises(InvalidInput, match="E513.*KMS alias"):  # the identity policy alone would allow it
        world.check("alice", "kms:Decrypt", alias)
    with pytest.raises(InvalidInput, match="E513.*KMS alias"):  # nor says who can: the question is refused
        who_can(world, "kms:Decrypt", alias)
    # what IAM policies alone authorize on an alias (with the key's permission, asked apart)
    assert world.check("alice", "kms:CreateAlias", alias).allowed


def test_assuming_a_role_with_session_tags_or_a_source_identity_says_what_else_aws_authorizes(world):
    role = "arn:aws:iam::111122223333:role/Worker"
    plain = world.check("alice", "sts:AssumeRole", role)
    tagged = world.check("alice", "sts:AssumeRole", role, {"aws:RequestTag/team": "red", "aws:TagKeys": ["team"]})
    named = world.check("alice", "sts:AssumeRole", role, {"sts:SourceIdentity": "alice"})
    assert tagged.decision == named.decision == plain.decision
    assert not any("sts:TagSession" in w or "sts:SetSourceIdentity" in w for w in plain.warnings)
    assert any("ask sts:TagSession too" in w for w in tagged.warnings)
    assert any("ask sts:SetSourceIdentity too" in w for w in named.warnings)


def _flagged_in_batch(world, flagged, line: dict) -> list[bool]:
    """Whether ``flagged`` holds of the warnings of each answer of ``iamlogic batch`` to ``line``."""
    import io
    import json

    from iamlogic.batch import run_batch

    out = io.StringIO()
    run_batch(world, [json.dumps(line)], out)
    return [flagged(json.loads(x)["warnings"]) for x in out.getvalue().splitlines()]


def test_an_action_on_no_particular_resource_asked_on_a_resource_says_so():
    """AWS authorizes an action that the catalog lists no resource type for on "*": a statement
    naming a resource never allows it. Asked on a resource, the answer matches statements against
    that resource, and says that AWS makes no such request (every face: check, check_many, batch)."""
    world = iamlogic.loads('''
account 111122223333 "dev" {
  user alice { policy P { allow s3:ListAllMyBuckets, s3:GetObject on "arn:aws:s3:::b*" } }
}
''')
    def flagged(warnings):
        return any("acts on no particular resource" in w and 'ask on "*"' in w for w in warnings)

    on_bucket = world.check("alice", "s3:ListAllMyBuckets", "arn:aws:s3:::b")
    assert on_bucket.decision == "Allow" and flagged(on_bucket.warnings)  # what the statements say of it
    on_all = world.check("alice", "s3:ListAllMyBuckets", "*")
    assert on_all.decision == "ImplicitDeny" and not flagged(on_all.warnings)
    assert not flagged(world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k").warnings)
    many = world.check_many([("alice", "s3:ListAllMyBuckets", r) for r in ("arn:aws:s3:::b", "*")] * 5)
    assert [flagged(d.warnings) for d in many] == [True, False] * 5
    assert _flagged_in_batch(world, flagged, {"principal": "alice", "action": ["s3:ListAllMyBuckets", "s3:GetObject"],
                                              "resource": ["arn:aws:s3:::b", "*", "arn:aws:s3:::b/k"]}) == [
        True, False, True, False, False, False]


def test_a_resource_with_a_wildcard_is_answered_for_its_literal_name_and_says_so():
    """A request names one resource: asked on ``data/*``, the answer is for an object of that
    literal name, which the Deny on ``data/secret/*`` does not match. It must say so, not pass for
    "every object of data" (check, check_many, batch alike)."""
    world = iamlogic.loads('''
account 111122223333 "dev" {
  user alice { policy P { allow s3:GetObject on "arn:aws:s3:::data/*"
                          deny s3:GetObject on "arn:aws:s3:::data/secret/*" } }
  resource "arn:aws:s3:::data" { }
}
''')
    def flagged(warnings):
        return any("holds a wildcard" in w and "not for every resource it covers" in w for w in warnings)

    pattern = world.check("alice", "s3:GetObject", "arn:aws:s3:::data/*")
    assert pattern.decision == "Allow" and flagged(pattern.warnings)
    odd = world.check("alice", "s3:GetObject", "arn:aws:s3:::data/report?.csv")
    assert odd.decision == "Allow" and flagged(odd.warnings)
    secret = world.check("alice", "s3:GetObject", "arn:aws:s3:::data/secret/k")
    assert secret.decision == "ExplicitDeny" and not flagged(secret.warnings)
    assert not flagged(world.check("alice", "s3:ListAllMyBuckets", "*").warnings)
    many = world.check_many([("alice", "s3:GetObject", r) for r in ("arn:aws:s3:::data/*", "arn:aws:s3:::data/k")] * 5)
    assert [flagged(d.warnings) for d in many] == [True, False] * 5
    assert _flagged_in_batch(world, flagged, {"principal": "alice", "action": "s3:GetObject",
                                              "resource": ["arn:aws:s3:::data/*", "arn:aws:s3:::data/k"]}) == [True, False]


def test_the_objects_of_a_new_evaluator_are_not_left_to_the_first_requests_collections():
    """An evaluator is built with the collector paused, so its objects would all wait in the
    youngest generation; the first requests' collections would walk them all (40 ms in the
    bench's M world). They are moved to the oldest generation as the evaluator is made."""
    import gc

    from pathlib import Path

    world = iamlogic.load([str(Path(__file__).resolve().parents[2] / "examples" / "organization" / "world.iaml")])
    world.evaluator()
    assert gc.isenabled()
    assert len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1)) < 2_000


def test_an_interrupt_in_the_collectors_pause_does_not_leave_it_off_for_good(monkeypatch):
    """Ctrl-C landing between turning the collector off and counting the pause: the next pause
    to end turns it on again."""
    import gc

    from iamlogic.evaluate import collector_paused

    assert gc.isenabled()
    real = gc.disable

    def interrupted():
        real()
        raise KeyboardInterrupt

    monkeypatch.setattr(gc, "disable", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            with collector_paused():
                pass
        monkeypatch.setattr(gc, "disable", real)
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.enable()


def test_a_child_forked_while_a_thread_holds_the_collectors_pause_can_pause_it():
    """A process forked while another thread is in collector_paused (its lock may be held, its
    count is the parent's) pauses and restores the collector on its own."""
    import multiprocessing as mp
    import threading

    from iamlogic import evaluate

    inside, leave = threading.Event(), threading.Event()

    def hold():
        with evaluate._paused:  # the lock held, as by a thread in the middle of its bookkeeping
            inside.set()
            leave.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(30)
    try:
        with mp.get_context("fork").Pool(1) as pool:
            assert pool.apply_async(_pause_once).get(timeout=30) == (True, False, True)
    finally:
        leave.set()
        t.join()


def _pause_once():
    import gc

    from iamlogic.evaluate import collector_paused

    before = gc.isenabled()
    with collector_paused():
        during = gc.isenabled()
    return before, during, gc.isenabled()


def test_an_action_is_matched_only_against_the_patterns_of_its_service(monkeypatch):
    """Action patterns are kept by the key of their service prefix (rules/30-statements.dl): a
    request's action is matched against its sources' patterns of its service and those with a
    wildcard in the prefix, not against every pattern (an AWS managed policy like ReadOnlyAccess
    lists hundreds)."""
    from iamlogic.evaluate import Evaluator

    asked: list[str] = []
    match = Evaluator._b_action_match

    def spy(self, pattern, action):
        asked.append(pattern)
        return match(self, pattern, action)

    monkeypatch.setattr(Evaluator, "_b_action_match", spy)
    w = iamlogic.loads('account 111122223333 "a" { user alice { policy P {\n'
                       '  allow ec2:Describe*, lambda:Get*, S3:Get*, s3*:List*, iam:List* on * } } }')
    d = w.check("arn:aws:iam::111122223333:user/alice", "s3:GetObject", "arn:aws:s3:::b/k")
    assert d.decision == "Allow"
    assert {"S3:Get*", "s3*:List*"} <= set(asked)
    assert not {"ec2:Describe*", "lambda:Get*", "iam:List*"} & set(asked)


def test_a_resource_is_matched_only_against_the_entries_of_its_scope(monkeypatch):
    """The Resource entries of a statement that has many are kept by scope (rules/30-statements.dl):
    a statement listing 20 buckets is matched against a request's resource only through the
    entries of its bucket (and those with a wildcard in the bucket name), one request at a time
    and requests of one principal and action together."""
    from iamlogic.evaluate import Evaluator

    asked: list[str] = []
    match = Evaluator._b_resource_matches

    def spy(self, req, stmt, pattern):
        asked.append(pattern)
        return match(self, req, stmt, pattern)

    monkeypatch.setattr(Evaluator, "_b_resource_matches", spy)
    monkeypatch.setattr(Evaluator, "_v_resource_matches", lambda self, vec, mask, stmt, pattern: sum(
        bit for bit, r in vec.each(mask) if spy(self, r, stmt, pattern)))
    buckets = ", ".join(f'"arn:aws:s3:::bucket-{i}/*"' for i in range(20))
    w = iamlogic.loads(f'account 111122223333 "a" {{ user alice {{ policy P {{\n'
                       f'  allow s3:GetObject on {buckets}, "arn:aws:s3:::logs-*/*" }} }} }}')
    alice = "arn:aws:iam::111122223333:user/alice"
    assert w.check(alice, "s3:GetObject", "arn:aws:s3:::bucket-7/k").decision == "Allow"
    assert sorted(asked) == ["arn:aws:s3:::bucket-7/*", "arn:aws:s3:::logs-*/*"]
    asked.clear()
    found = w.check_many([(alice, "s3:GetObject", f"arn:aws:s3:::bucket-{i}/k") for i in (3, 30, 3, 4) * 3])
    assert [d.decision for d in found[:4]] == ["Allow", "ImplicitDeny", "Allow", "Allow"]
    assert set(asked) == {"arn:aws:s3:::bucket-3/*", "arn:aws:s3:::bucket-4/*", "arn:aws:s3:::logs-*/*"}
