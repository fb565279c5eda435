"""The iamlogic command: exit codes, text and JSON output."""

from __future__ import annotations

import json

from iamlogic.cli import main

from ..conftest import EXAMPLES


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_examples_passes(capsys):
    code, out, err = run(capsys, "validate", str(EXAMPLES))
    assert code == 0, out + err
    assert "0 error(s)" in err


def test_validate_reports_errors_with_position_and_exit_3(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",'
                   ' "Resource": "*", "Condition": {"StringEqual": {"aws:username": "a"}}}}')
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 3
    assert f"{bad}:1:" in out and "E104" in out and "did you mean 'StringEquals'?" in out


def test_validate_kind_from_file_name(tmp_path, capsys):
    doc = '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Principal": "*"}}'
    (tmp_path / "p.scp.json").write_text(doc)
    (tmp_path / "p.resource.json").write_text(doc)
    code, out, _ = run(capsys, "validate", str(tmp_path / "p.resource.json"))
    assert code == 0, out
    code, out, _ = run(capsys, "validate", str(tmp_path / "p.scp.json"))
    assert code == 3 and "E205" in out


def test_validate_json_format(tmp_path, capsys):
    bad = tmp_path / "w.iaml"
    bad.write_text('account 111122223333 "dev" { user alice { groups nobody } }')
    code, out, _ = run(capsys, "validate", "--format", "json", str(bad))
    assert code == 3
    data = json.loads(out)
    assert data["valid"] is False
    assert data["diagnostics"][0]["code"] == "E316"
    assert data["diagnostics"][0]["line"] == 1


def test_facts_prints_one_relation(capsys):
    code, out, _ = run(capsys, "facts", str(EXAMPLES / "organization" / "world.iaml"), "--relation", "account")
    assert code == 0
    assert out.splitlines()[0] == 'account("111111111111", "management").'
    assert all(line.startswith("account(") for line in out.splitlines())


def test_facts_on_invalid_world_exits_3(tmp_path, capsys):
    bad = tmp_path / "w.iaml"
    bad.write_text("account 1 'x'")
    code, _, err = run(capsys, "facts", str(bad))
    assert code == 3 and "E30" in err


def test_validate_checks_guardrails_files(tmp_path, capsys):
    (tmp_path / "good.dl").write_text('guardrail("a", "b").\nviolation("a", A, A) :- account(A, _).\n')
    (tmp_path / "bad.dl").write_text('guardrail("a", "b").\nviolation("z", A, A) :- account(A, _).\n')
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 3 and f"{tmp_path / 'bad.dl'}:2:11: E804" in out and "2 file(s): 1 error(s)" in err


def test_an_output_path_that_cannot_be_written_is_a_clean_error(tmp_path, capsys):
    world = str(EXAMPLES / "organization" / "world.iaml")
    missing = tmp_path / "no-such-folder"
    assert main(["graph", "org", world, "--output", str(missing / "org.dot")]) == 3
    requests = tmp_path / "r.jsonl"
    requests.write_text('{"principal": "bob", "action": "s3:GetObject", "resource": "*"}\n')
    assert main(["batch", world, str(requests), "-o", str(missing / "out.jsonl")]) == 3
    err = capsys.readouterr().err
    assert "internal error" not in err and err.count("No such file or directory") == 2 and str(missing) in err


def test_an_interrupt_ends_the_command_with_a_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    import iamlogic.batch as batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "run_batch", interrupted)
    requests = tmp_path / "r.jsonl"
    requests.write_text('{"principal": "bob", "action": "s3:GetObject", "resource": "*"}\n')
    assert main(["batch", str(EXAMPLES / "organization" / "world.iaml"), str(requests)]) == 130
    assert capsys.readouterr().err == "iamlogic: interrupted\n"


def test_names_that_match_nothing_are_errors_not_empty_answers(capsys):
    world = str(EXAMPLES / "organization" / "world.iaml")
    assert main(["facts", world, "--relation", "principl"]) == 3
    assert "did you mean 'principal'?" in capsys.readouterr().err
    export = str(EXAMPLES / "gaad" / "account-authorization-details.json")
    assert main(["import-gaad", export, "--account-name", "999999999999=other"]) == 3
    assert "which the exports do not hold" in capsys.readouterr().err


def test_options_may_come_between_the_files_of_batch_and_query(tmp_path, capsys):
    world = str(EXAMPLES / "organization" / "world.iaml")
    requests = tmp_path / "r.jsonl"
    requests.write_text('{"principal": "bob", "action": "s3:GetObject", "resource": "*"}\n')
    assert main(["batch", world, "-j", "2", str(requests)]) == 0
    assert main(["batch", world, "--output", str(tmp_path / "out.jsonl"), str(requests)]) == 0
    assert json.loads((tmp_path / "out.jsonl").read_text())["decision"] == "Allow"
    capsys.readouterr()
    assert main(["query", world, "--format", "json", "can bob s3:GetObject *"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "Allow"


def test_python_dash_m_iamlogic_runs_the_command_line():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "iamlogic", "check", str(EXAMPLES / "scp-hierarchy" / "world.iaml"),
                           "--principal", "arn:aws:iam::222222222222:root", "--action", "s3:GetObject",
                           "--resource", "arn:aws:s3:::b/k"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the SCP and RCP AWS Organizations attaches by default have no source file: said so
    assert "scp policy FullAWSAccess (AWS managed, attached by default)" in done.stdout
    assert "rcp policy RCPFullAWSAccess (AWS managed, attached by default)" in done.stdout


def test_the_default_policies_are_the_ones_named_aws_managed():
    from iamlogic.decision import _AWS_MANAGED_IDS
    from iamlogic.world import BUILTIN_POLICY_IDS
    assert set(BUILTIN_POLICY_IDS.values()) == _AWS_MANAGED_IDS


def test_an_option_given_twice_is_an_error_not_the_last_one(tmp_path, capsys):
    world = tmp_path / "w.iaml"
    world.write_text('account 111111111111 "a" {\n'
                     '  role R { trust { allow sts:AssumeRole principal aws "111111111111" }\n'
                     '    policy P { allow s3:*, sqs:* on * } }\n}\n')
    s3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    sqs = s3.replace("s3:*", "sqs:*")
    check = ("check", str(world), "--principal", "arn:aws:sts::111111111111:assumed-role/R/s", "--action",
             "s3:GetObject", "--resource", "arn:aws:s3:::b/k")
    assert run(capsys, *check, "--session-policy", s3)[0] == 0
    code, out, err = run(capsys, *check, "--session-policy", s3, "--session-policy", sqs)
    assert code == 3 and "E510: unsupported: --session-policy is given 2 times" in err and "PolicyArns" in err
    code, out, err = run(capsys, *check, "--session-policy", "")
    assert code == 3 and "<session policy>" in err  # an empty session policy is not no session policy
    code, _, err = run(capsys, "simulate-custom-policy", "--action-names", "s3:GetObject", "--caller-arn",
                       "arn:aws:iam::111111111111:role/R", "--session-policy", s3, "--session-policy", sqs)
    assert code == 3 and "unsupported: --session-policy is given 2 times" in err
    code, _, err = run(capsys, *check, "--action", "s3:PutObject")
    assert code == 3 and "argument --action: given more than once" in err
    code, _, err = run(capsys, "simulate-custom-policy", "--action-names", "s3:GetObject", "--caller-tags",
                       "Key=a,Value=b", "--caller-tags", "Key=c,Value=d")
    assert code == 3 and "argument --caller-tags: given more than once" in err
