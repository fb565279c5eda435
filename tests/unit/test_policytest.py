"""``iamlogic test``: policy test files, their report, JUnit XML, exit codes and invalid input."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iamlogic.cli import main
from iamlogic.verify import TestReport, run_tests

from ..conftest import EXAMPLES, ROOT

WORLD = """\
account 111111111111 "dev" {
  user bob { policy P { sid "BobS3" allow s3:* on * } }
  user carol
  role Reader {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:user/bob" }
    policy R { sid "ReaderGet" allow s3:GetObject on * }
  }
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def world_block(indent: int = 2) -> str:
    return textwrap.indent(WORLD, " " * indent)


PASSING = f"""\
title: passing
world: |
{world_block()}
requests:
  - name: bob reads
    principal: bob
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    expect: Allow
    deciding: [BobS3]
  - name: carol cannot
    principal: arn:aws:iam::111111111111:user/carol
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    expect: ImplicitDeny
  - name: a session policy limits the role
    principal: arn:aws:sts::111111111111:assumed-role/Reader/s
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    session_policy: "{{ allow s3:PutObject on * }}"
    expect: ImplicitDeny
  - name: a federated user gets its issuer's permissions within the session policy
    principal: arn:aws:sts::111111111111:federated-user/fed
    session_issuer: arn:aws:iam::111111111111:user/bob
    session_policy: '{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}]}}'
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    context: {{aws:SecureTransport: true, aws:SourceIp: [10.0.0.1]}}
    expect: Allow
"""

FAILING = f"""\
world: |
{world_block()}
requests:
  - name: wrong decision
    principal: bob
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    expect: ImplicitDeny
  - name: wrong deciding statement
    principal: bob
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    expect: Allow
    deciding: [Nope]
  - name: right
    principal: carol
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    expect: ImplicitDeny
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_passing_file(tmp_path):
    report = run_tests([str(write(tmp_path, "ok.yaml", PASSING))])
    assert isinstance(report, TestReport)
    assert (report.passed, report.failed, report.invalid, report.exit_code) == (4, 0, 0, 0)
    assert f"{tmp_path / 'ok.yaml'}: 4 passed, 0 failed" in report.render()


def test_failures_show_expected_got_and_blockers(tmp_path):
    path = write(tmp_path, "bad.yaml", FAILING)
    report = run_tests(str(path))
    assert (report.passed, report.failed, report.exit_code) == (1, 2, 1)
    text = report.render()
    lines = path.read_text().split("\n")
    req_line = lines.index("  - name: wrong decision") + 1
    assert f"FAIL 'wrong decision' ({path}:{req_line}): expected ImplicitDeny, got Allow" in text
    assert "'Nope' is not among the deciding statements (BobS3, P)" in text
    # the explanation is decision.explain("blockers"), with the statement's place in the YAML file
    case = report.files[0].cases[0]
    assert case.explanation == case.decision.explain("blockers")
    sid_line = next(i for i, x in enumerate(lines, 1) if 'sid "BobS3"' in x)
    sid_col = lines[sid_line - 1].index('sid "BobS3"') + 1
    assert f"allowed by Allow statement 0 'BobS3' of identity policy P ({path}:{sid_line}:{sid_col})" in text


def test_world_text_positions_are_positions_in_the_yaml_file(tmp_path):
    path = write(tmp_path, "ok.yaml", PASSING)
    report = run_tests(str(path))
    ref = report.files[0].cases[0].decision.statements[0]
    line = path.read_text().split("\n")[ref.line - 1]
    assert (ref.file, ref.sid) == (str(path), "BobS3")
    assert line[ref.col - 1:].startswith('sid "BobS3"')


def test_junit_xml(tmp_path, capsys):
    ok, bad = write(tmp_path, "a/ok.yaml", PASSING), write(tmp_path, "a/bad.yaml", FAILING)
    broken = write(tmp_path, "a/broken.yaml", "requests: [\n")
    out = tmp_path / "junit.xml"
    code, text, _ = run(capsys, "test", str(tmp_path / "a"), "--junit-xml", str(out))
    assert code == 3, text  # invalid input wins over a failure
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {str(ok), str(bad), str(broken)}
    assert [c.get("name") for c in suites[str(ok)].findall("testcase")] == [
        "bob reads", "carol cannot", "a session policy limits the role",
        "a federated user gets its issuer's permissions within the session policy"]
    assert suites[str(ok)].get("failures") == "0" and suites[str(ok)].get("tests") == "4"
    s = suites[str(bad)]
    assert (s.get("tests"), s.get("failures"), s.get("errors")) == ("3", "2", "0")
    failure = s.find("testcase[@name='wrong decision']/failure")
    assert failure.get("message") == "expected ImplicitDeny, got Allow"
    assert "allowed by Allow statement 0 'BobS3'" in failure.text
    assert s.find("testcase[@name='right']/failure") is None
    err = suites[str(broken)].find("testcase/error")
    assert err is not None and "E701" in err.text
    assert root.get("failures") == "2" and root.get("errors") == "1"


def test_exit_codes(tmp_path, capsys):
    assert run(capsys, "test", str(write(tmp_path, "ok.yaml", PASSING)))[0] == 0
    assert run(capsys, "test", str(write(tmp_path, "bad.yaml", FAILING)))[0] == 1
    assert run(capsys, "test", str(tmp_path / "missing.yaml"))[0] == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = run(capsys, "test", str(empty))
    assert code == 3 and "E708" in out


@pytest.mark.parametrize("text,code,where,words", [
    ("requests: [\n  - a\n", "E701", ":2:", "YAML"),
    ("world: 'account 111111111111 \"a\"'\nrequest: []\n", "E702", ":2:1:", "unknown key 'request'"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - principal: bob\n    action: s3:GetObject\n"
     "    resource: '*'\n    expect: Allow\n    expected: Allow\n", "E702", ":7:5:", "did you mean 'expect'?"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - principal: bob\n    resource: '*'\n"
     "    expect: Allow\n", "E703", ":3:5:", "missing 'action'"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - principal: bob\n    action: s3:GetObject\n"
     "    resource: '*'\n    expect: Allowed\n", "E705", ":6:13:", "did you mean 'Allow'?"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - principal: bob\n    action: s3:GetObject\n"
     "    resource: '*'\n    expect: ImplicitDeny\n    deciding: [X]\n", "E705", ":7:15:", "implicit deny"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - {name: n, principal: bob, action: a:b, resource: r, "
     "expect: Allow}\n  - {name: n, principal: bob, action: a:b, resource: r, expect: Allow}\n", "E709", ":4:", "used twice"),
    ("requests:\n  - {principal: bob, action: s3:GetObject, resource: r, expect: Allow}\n", "E706", ":1:1:", "no world"),
    ("worlds:\n  a: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - {principal: bob, action: a:b, resource: r,"
     " expect: Allow, world: b}\n", "E705", ":4:", "must name one of the worlds"),
    ("world: 'account 111111111111 \"a\" { user bob }'\nrequests:\n  - {principal: bob, action: a:b, resource: r,"
     " expect: Allow, context: {k: {x: 1}}}\n", "E704", ":3:73:", "the value of 'k'"),
])
def test_invalid_files_name_the_file_line_and_key(tmp_path, text, code, where, words):
    path = write(tmp_path, "t.yaml", text)
    report = run_tests(str(path))
    assert report.exit_code == 3
    rendered = report.render()
    assert f"{path}{where}" in rendered and code in rendered and words in rendered, rendered


def test_world_errors_are_rendered_at_their_place_in_the_yaml_file(tmp_path, capsys):
    path = write(tmp_path, "t.yaml", """\
        title: a world with an error
        world: |
          account 111111111111 "a" {
            user bob { attach Missing }
          }
        requests:
          - {principal: bob, action: s3:GetObject, resource: "*", expect: Allow}
        """)
    code, out, _ = run(capsys, "test", str(path))
    assert code == 3
    assert f"{path}:4:16: E315: unknown managed policy 'Missing'" in out  # at its attach
    assert "user bob { attach Missing }" in out  # the source line, from the YAML file


def test_world_files_worlds_and_the_sibling_world(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "world.iaml").write_text(WORLD)
    req = "requests:\n  - {principal: bob, action: s3:GetObject, resource: arn:aws:s3:::b/k, expect: Allow%s}\n"
    write(tmp_path, "w/sibling.yaml", req % "")
    write(tmp_path, "files.yaml", "world_files: [w/world.iaml]\n" + req % "")
    write(tmp_path, "named.yaml", "worlds:\n  files: [w/world.iaml]\n  empty: |\n    account 111111111111 \"dev\" { user bob }\n"
          "requests:\n  - {principal: bob, action: s3:GetObject, resource: arn:aws:s3:::b/k, expect: Allow, world: files}\n"
          "  - {principal: bob, action: s3:GetObject, resource: arn:aws:s3:::b/k, expect: ImplicitDeny, world: empty}\n")
    write(tmp_path, "w/invariants.yaml", "invariants: []\n")  # not a test file: skipped in a folder
    report = run_tests([str(tmp_path)])
    assert sorted(Path(f.path).name for f in report.files) == ["files.yaml", "named.yaml", "sibling.yaml"]
    assert (report.passed, report.failed, report.exit_code) == (4, 0, 0), report.render()


def test_a_request_that_cannot_be_evaluated_is_an_error(tmp_path):
    path = write(tmp_path, "t.yaml", f"world: |\n{world_block()}requests:\n"
                 "  - {name: who, principal: nobody, action: s3:GetObject, resource: '*', expect: Allow}\n")
    report = run_tests(str(path))
    case = report.files[0].cases[0]
    assert case.status == "error" and report.exit_code == 3
    assert "E504" in case.explanation and f"{path}:" in case.explanation


def test_the_scenario_corpus_format_is_read_as_is():
    """A file of the project's own corpus (tests/scenarios) runs unchanged."""
    report = run_tests(str(ROOT / "tests" / "scenarios" / "org-only-bucket.yaml"))
    assert report.exit_code == 0 and report.passed == 10, report.render()


def test_examples_verify_tests_pass_through_the_cli(capsys):
    code, out, _ = run(capsys, "test", str(EXAMPLES / "verify"))
    assert code == 0, out
    assert f"{EXAMPLES / 'verify' / 'tests.yaml'}: 8 passed, 0 failed" in out


def test_a_passing_test_shows_an_unknown_action_or_context_key(tmp_path, capsys, monkeypatch):
    write(tmp_path, "typos.yaml", f"""\
world: |
{world_block()}
requests:
  - name: carol cannot delete
    principal: carol
    action: s3:DeleteObjekt
    resource: arn:aws:s3:::b/k
    expect: ImplicitDeny
  - name: bob reads in a region
    principal: bob
    action: s3:GetObject
    resource: arn:aws:s3:::b/k
    context: {{aws:RequestedRegoin: eu-west-1}}
    expect: Allow
""")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "junit.xml"
    code, text, _ = run(capsys, "test", "./typos.yaml", ".", "--junit-xml", str(out))  # one file, named twice
    assert code == 0, text
    assert "typos.yaml: 2 passed, 0 failed" in text and "1 file(s)" in text
    assert "WARN 'carol cannot delete' (./typos.yaml:12): unknown action 's3:DeleteObjekt'" in text
    assert "did you mean 's3:DeleteObject'?" in text and "did you mean 'aws:RequestedRegion'?" in text
    case = ET.parse(out).getroot().find("testsuite/testcase[@name='bob reads in a region']")
    assert case.get("classname") == "typos" and "unknown context key" in case.find("system-err").text
