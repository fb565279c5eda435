"""Privilege escalation paths."""

from __future__ import annotations

from iamlogic import loads
from iamlogic.privesc import escalations

WORLD = '''
account 111122223333 "dev" {
  user dev {
    attach DevPolicy
    boundary DevBoundary
  }
  user safe { policy P { allow s3:GetObject on * } }
  user delegated {
    boundary DevBoundary
    policy P {
      allow iam:CreateUser on * when StringEquals iam:PermissionsBoundary "arn:aws:iam::111122223333:policy/DevBoundary"
    }
  }
  role Admin {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" }
    policy P { allow * on * }
  }
  role Worker { trust { allow sts:AssumeRole principal service "lambda.amazonaws.com" }  policy W { allow dynamodb:* on * } }
  policy DevPolicy {
    allow iam:CreatePolicyVersion on "arn:aws:iam::111122223333:policy/DevPolicy"
    allow iam:PassRole, lambda:CreateFunction on *
    allow iam:CreateUser on *
    allow sts:AssumeRole on "arn:aws:iam::111122223333:role/Admin"
  }
  policy DevBoundary { allow iam:*, lambda:*, sts:*, s3:* on * }
}
'''


def test_every_technique_found_and_nothing_for_safe_principals():
    found = {(f.principal.rsplit("/", 1)[-1], f.technique) for f in escalations(loads(WORLD))}
    assert ("dev", "modify-own-policy") in found
    assert ("dev", "pass-role-to-code") in found  # Worker, which trusts Lambda (Admin trusts no service)
    assert ("dev", "create-user-without-boundary") in found
    assert ("dev", "assume-role") in found
    assert not {f for f in found if f[0] in ("safe", "delegated")}
    # Admin can do anything, to itself too
    assert ("Admin", "attach-to-self") in found


def test_group_changes_credentials_of_other_users_and_roles_without_policies():
    world = loads('''account 111122223333 "dev" {
      group devs { policy G { allow s3:GetObject on * } }
      user alice {
        groups devs
        policy P {
          allow iam:PutGroupPolicy on "arn:aws:iam::111122223333:group/devs"
          allow iam:CreateAccessKey on "arn:aws:iam::111122223333:user/admin"
          allow iam:CreateLoginProfile on "arn:aws:iam::111122223333:user/nobody"
          allow sts:AssumeRole on *
        }
      }
      user admin { policy A { allow * on * } }
      user nobody
      role Empty { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" } }
    }''')
    found = {(f.principal.rsplit("/", 1)[-1], f.technique, f.steps) for f in escalations(world)}
    assert ("alice", "modify-own-group", ("iam:PutGroupPolicy on arn:aws:iam::111122223333:group/devs",)) in found
    assert ("alice", "credentials-of-user", ("iam:CreateAccessKey on arn:aws:iam::111122223333:user/admin",)) in found
    # nobody holds no policy, and the Empty role none: nothing for alice to gain from either (admin,
    # which may attach policies to Empty and assume it, is found doing so: modify-assumable-role)
    assert not [f for f in found if f[0] == "alice" and ("nobody" in str(f[2]) or "Empty" in str(f[2]))], found


def test_pass_role_with_the_recommended_condition_and_removing_ones_own_boundary():
    world = loads('''
account 111111111111 "a" {
  user passer { policy P {
      allow iam:PassRole on "arn:aws:iam::111111111111:role/*" when StringEquals iam:PassedToService "lambda.amazonaws.com"
      allow lambda:CreateFunction, ec2:RunInstances on * } }
  user unbounder { boundary Tiny  policy Q { allow s3:*, iam:DeleteUserPermissionsBoundary on * } }
  role Power { trust { allow sts:AssumeRole principal service "lambda.amazonaws.com" }  policy Admin { allow * on * } }
  role Ec2Only { trust { allow sts:AssumeRole principal service "ec2.amazonaws.com" }  policy Admin2 { allow * on * } }
  policy Tiny { allow s3:ListAllMyBuckets, iam:DeleteUserPermissionsBoundary on * }
}''')
    found = {(f.principal.rsplit("/", 1)[1], f.technique, f.steps) for f in escalations(world)}
    # PassRole is asked with iam:PassedToService, and a role is passed only to a service its trust lets in:
    # Ec2Only may go to EC2, which passer may not pass it to
    assert ("passer", "pass-role-to-code", ("iam:PassRole on arn:aws:iam::111111111111:role/Power (to lambda.amazonaws.com)",
                                           "lambda:CreateFunction on *")) in found
    assert not any(p == "passer" and "Ec2Only" in " ".join(steps) for p, _, steps in found)
    assert ("unbounder", "remove-own-boundary",
            ("iam:DeleteUserPermissionsBoundary on arn:aws:iam::111111111111:user/unbounder",)) in found


def test_a_step_denied_only_for_want_of_a_key_the_caller_gives_is_a_finding_with_what_it_needs():
    world = loads('''
account 111111111111 "a" {
  user mfa { policy P { allow iam:AttachUserPolicy on "arn:aws:iam::111111111111:user/mfa"
                        when Bool aws:MultiFactorAuthPresent "true" } }
  user never { policy P { allow iam:AttachUserPolicy on "arn:aws:iam::111111111111:user/mfa" } }
}''')
    found = [f for f in escalations(world) if f.technique == "attach-to-self"]
    assert [(f.principal.rsplit("/", 1)[1], f.needs) for f in found] == [("mfa", ("aws:MultiFactorAuthPresent",))]
    assert found[0].render().endswith("[if the request carries aws:MultiFactorAuthPresent]")


def test_a_role_that_trusts_a_service_with_the_confused_deputy_conditions_is_a_target():
    world = loads('''
account 111111111111 "a" {
  user passer { policy P { allow iam:PassRole, lambda:CreateFunction on * } }
  role AdminB {
    trust { allow sts:AssumeRole principal service "lambda.amazonaws.com" when StringEquals aws:SourceAccount "111111111111" }
    policy A { allow * on * }
  }
  role AdminC {
    trust { allow sts:AssumeRole principal service "lambda.amazonaws.com"
            when ArnLike aws:SourceArn "arn:aws:lambda:*:111111111111:function:*" }
    policy A { allow * on * }
  }
}''')
    passed = {(f.steps[0].split(" on ")[1].split(" ")[0].rsplit("/", 1)[1], f.needs) for f in escalations(world)
              if f.technique == "pass-role-to-code" and f.principal.endswith("/passer")}
    assert passed == {("AdminB", ()), ("AdminC", ())}  # the service sets the source keys itself


ASSUMABLE = '''
account 222222222222 "prod" {
  user u1 { policy P { allow sts:AssumeRole, iam:AttachRolePolicy on "arn:aws:iam::222222222222:role/Weak" } }
  role Weak { trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:user/u1" } }
  user u7 { policy P { allow iam:AddUserToGroup, iam:PutGroupPolicy on "arn:aws:iam::222222222222:group/Empty" } }
  user u8 { policy P { allow iam:PutGroupPolicy on "arn:aws:iam::222222222222:group/Empty" } }
  group Empty
  user u11 {
    policy P {
      allow sts:AssumeRole on "arn:aws:iam::222222222222:role/Ops"
      allow iam:CreatePolicyVersion on "arn:aws:iam::222222222222:policy/OpsPolicy"
    }
  }
  role Ops { trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:user/u11" } attach OpsPolicy }
  policy OpsPolicy { allow s3:ListAllMyBuckets on * }
  user oncall { policy P { allow sts:AssumeRole on "arn:aws:iam::222222222222:role/Admin" } }
  role Admin {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:user/oncall" when Bool aws:MultiFactorAuthPresent "true" }
    policy P { allow * on * }
  }
}
'''


def test_a_role_it_can_assume_an_empty_group_it_can_join_and_an_assumption_that_needs_mfa():
    found = {(f.principal.rsplit("/", 1)[-1], f.technique, f.steps[-1].split(" on ")[0], f.needs)
             for f in escalations(loads(ASSUMABLE))}
    assert ("u1", "modify-assumable-role", "iam:AttachRolePolicy", ()) in found
    assert ("u11", "modify-assumable-role", "iam:CreatePolicyVersion", ()) in found
    assert ("u7", "join-and-modify-group", "iam:PutGroupPolicy", ()) in found
    assert not any(p == "u8" for p, *_ in found)  # it cannot join the group
    assert ("oncall", "assume-role", "sts:AssumeRole", ("aws:MultiFactorAuthPresent",)) in found


def test_a_managed_policy_is_named_by_its_path():
    world = loads('''account 444455556666 "app" {
      user dev { attach TeamPolicy }
      policy TeamPolicy path "/team/" { allow iam:CreatePolicyVersion on "arn:aws:iam::444455556666:policy/team/*" }
    }''')
    found = {(f.technique, f.steps) for f in escalations(world)}
    assert ("modify-own-policy", ("iam:CreatePolicyVersion on arn:aws:iam::444455556666:policy/team/TeamPolicy",)) in found


def test_a_step_that_no_value_of_the_missing_key_allows_is_not_a_finding():
    world = loads('''account 111111111111 "a" {
      role Admin { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:user/carol" } policy P { allow * on * } }
      user dave { policy P { allow sts:AssumeRole on * when Bool aws:MultiFactorAuthPresent "true" } }
      user carol
    }''')
    assert not [f for f in escalations(world) if f.principal.endswith("user/dave")]


def test_an_iam_group_has_no_tags_to_give():
    world = loads('''account 111111111111 "a" {
      user u7 {
        policy P {
          allow iam:AddUserToGroup on "arn:aws:iam::111111111111:group/G"
          allow iam:AttachGroupPolicy on "arn:aws:iam::111111111111:group/G" when StringEquals aws:ResourceTag/team "ops"
        }
      }
      group G
    }''')
    assert escalations(world) == []


def test_a_step_that_needs_two_keys_is_asked_with_every_combination_of_their_values():
    world = loads('''account 111122223333 "dev" {
      user dev1 {
        policy P {
          sid "WithMfa" allow iam:AttachUserPolicy on "arn:aws:iam::111122223333:user/dev1" when Bool aws:MultiFactorAuthPresent "true"
          sid "NotViaServices" deny iam:* on * when Bool aws:ViaAWSService "true"
        }
      }
    }''')
    (found,) = escalations(world)
    assert found.technique == "attach-to-self"
    assert set(found.needs) == {"aws:MultiFactorAuthPresent", "aws:ViaAWSService"}
