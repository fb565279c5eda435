"""The REPL (logic/repl.py): Session.handle line by line, the repl/query/diff commands, and one
end-to-end run of the real ``iamlogic repl`` in a pseudo-terminal."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
import os
import random
import re
import subprocess
import sys

import pytest

import iamlogic
from iamlogic import analysis, repl
from iamlogic.cli import main
from iamlogic.repl import Session, run_repl

from ..conftest import EXAMPLES, ROOT

CROSS = str(EXAMPLES / "cross-account" / "world.iaml")
DANA = "arn:aws:iam::222222222222:user/dana"


@pytest.fixture(scope="module")
def world():
    return iamlogic.load([CROSS])


@pytest.fixture
def s(world):
    session = Session(world=world)
    session.paths = [CROSS]
    return session


def caret_under(text: str, line: str, col: int, width: int) -> None:
    lines = text.splitlines()
    i = lines.index("    " + line)
    assert lines[i + 1] == "    " + " " * (col - 1) + "^" * width, text


def test_doctests():
    import doctest

    assert doctest.testmod(repl).failed == 0


# -- every query form --------------------------------------------------------------------------


def test_can_allowed_and_denied(s):
    out = s.handle("can dana s3:PutObject arn:aws:s3:::b-reports/x.csv")
    assert out.splitlines()[0] == f"Allow: {DANA} s3:PutObject arn:aws:s3:::b-reports/x.csv"
    assert "'AllowDanaPut'" in out and "'WriteReportsInB'" in out and s.status == 0
    out = s.handle("can noperm s3:PutObject arn:aws:s3:::b-reports/x.csv")
    assert out.startswith("ImplicitDeny:") and s.status == 2


def test_can_with_context_and_explain_views(s):
    s.handle(":explain blockers")
    out = s.handle("can noperm s3:PutObject arn:aws:s3:::b-reports/x.csv with aws:SourceIp=10.0.0.1")
    assert "layer identity-based policies: no allow" in out
    s.handle(":explain full")
    assert "derivation:" in s.handle("can dana s3:PutObject arn:aws:s3:::b-reports/x.csv")


def test_why_shows_the_proof_tree(s):
    out = s.handle("why dana s3:PutObject arn:aws:s3:::b-reports/x.csv")
    assert out.startswith("Allow:") and "derivation:" in out
    assert 'decision("req' in out and "[rule rules/60-decision.dl:" in out


def test_why_not_lists_blockers_and_fixes(s):
    out = s.handle("why not noperm s3:PutObject arn:aws:s3:::b-reports/x.csv")
    assert "blocked by:" in out and "identity-based policies: no allow" in out
    assert "resource-based policy: no allow" in out and "would allow it:" in out
    assert 'add `allow s3:PutObject on "arn:aws:s3:::b-reports/x.csv"` to an identity policy of' in out
    assert s.status == 0


def test_who_can(s):
    out = s.handle("who can s3:PutObject arn:aws:s3:::b-reports/x.csv")
    assert out.splitlines()[0] == "3 principal(s) can s3:PutObject on arn:aws:s3:::b-reports/x.csv"
    for p in (DANA, "arn:aws:iam::333333333333:role/CrossRole", "arn:aws:iam::333333333333:root"):
        assert p in out
    # the bucket's owner (its root user) may always; nobody else may delete it
    assert s.handle("who can s3:DeleteBucket arn:aws:s3:::b-reports").splitlines()[0].startswith("1 principal(s)")


def test_text_answers_end_with_the_decision_warnings_as_check_prints_them(tmp_path, capsys):
    world = tmp_path / "w.iaml"
    world.write_text('account 111111111111 "a" {\n  user alice { attach P }\n  policy P {\n    allow s3:* on *\n'
                     '    deny s3:* on * when Bool aws:SecureTransport "false"\n  }\n}\n')
    session = Session([str(world)])
    request = "alice s3:GetObject arn:aws:s3:::b/k with aws:SecureTransprt=false, aws:SecureTransport=0"
    typo = "unknown context key 'aws:SecureTransprt': not in the AWS catalog (did you mean 'aws:SecureTransport'?)"
    bad_bool = "Bool: request value '0' is not true or false"
    for explain in ("summary", "blockers", "full"):
        session.handle(f":explain {explain}")
        for query in ("can", "why", "why not"):
            out = session.handle(f"{query} {request}")
            assert "\nwarnings:\n" in out and typo in out and bad_bool in out, (explain, query, out)
    out = session.handle("who can s3:GetObject arn:aws:s3:::b/k with aws:SecureTransprt=false")
    assert "\nwarnings:\n" in out and typo in out
    assert main(["query", str(world), f"can {request}"]) == 0
    out = capsys.readouterr().out
    assert typo in out and bad_bool in out
    # an unknown action is the answer's W613, not a second time among the warnings
    out = session.handle("can alice s3:GetObjekt arn:aws:s3:::b/k")
    assert out.count("unknown action") == 1


def test_a_context_key_given_twice_in_with_is_e514(s):
    for clause, col in (("k=false, k=true", 66), ("k=false, K=true", 66)):
        out = s.handle(f"can dana s3:PutObject arn:aws:s3:::b-reports/x.csv with {clause}")
        assert f"<input>:1:{col}: E514: context key" in out and "=[V1, V2]" in out and s.status == 3, out
    for query in ("who can s3:PutObject * with k=1, k=2", "what can dana do on * with k=1, k=2",
                  "why not dana s3:PutObject * with k=1, k=2"):
        assert "E514" in s.handle(query), query
    assert s.handle("can dana s3:PutObject arn:aws:s3:::b-reports/x.csv with k=[a, b]").startswith("Allow:")


def test_what_can(s):
    out = s.handle("what can dana do on arn:aws:s3:::b-reports/x.csv")
    assert "dana can do 1 action(s)" in out and "s3:PutObject" in out and "Write" in out
    assert "noperm can do nothing" in s.handle("what can noperm do on arn:aws:s3:::b-reports/x.csv")
    for who in ("dana", "noperm"):  # the warnings every decision has: here, a context key misspelled
        out = s.handle(f"what can {who} do on arn:aws:s3:::b-reports/x.csv with aws:SourceAcount=1")
        assert "\nwarnings:\n" in out and "did you mean 'aws:SourceAccount'" in out, out


def test_datalog_query_as_a_table(s):
    out = s.handle('?- principal(P, "user", A), not group_member(P, _).')
    assert out.splitlines()[0] == "2 answer(s)"
    assert out.splitlines()[1].split() == ["P", "A"]
    assert DANA in out and "arn:aws:iam::222222222222:user/noperm" in out
    assert s.handle('?- account("222222222222", _)') == "yes"
    assert s.handle('?- account("999999999999", _)') == "no"
    assert s.handle('?- principal(P, "group", _)') == "no answers"


# -- bad input ---------------------------------------------------------------------------------


def test_unknown_principal_has_a_caret_under_it(s):
    line = "can danna s3:PutObject *"
    out = s.handle(line)
    assert out.startswith("<input>:1:5: E504: principal 'danna' is not a principal of the world")
    caret_under(out, line, 5, 5)
    assert "did you mean 'dana'?" in out and s.status == 3
    out = s.handle("what can arn:aws:iam::222222222222:user/eve do on *")
    assert "E504" in out and "not a principal of account 222222222222" in out


def test_malformed_arn(s):
    line = "can dana s3:PutObject arn:aws:s3"
    out = s.handle(line)
    assert "E611: malformed resource 'arn:aws:s3'" in out
    caret_under(out, line, 23, 10)
    assert "E611" in s.handle("who can s3:GetObject bucket-name")


def test_unknown_action_is_a_warning_with_did_you_mean(s):
    out = s.handle("can dana s3:PutObjekt arn:aws:s3:::b-reports/x")
    assert "W613: unknown action 's3:PutObjekt'" in out and "did you mean 's3:PutObject'?" in out
    assert "ImplicitDeny:" in out  # answered anyway


def test_unknown_relation_with_did_you_mean(s):
    line = "?- principl(P, _, _)"
    out = s.handle(line)
    assert out.startswith("<input>:1:4: E410: unknown relation 'principl'") and "did you mean 'principal'?" in out
    caret_under(out, line, 4, len("principl(P, _, _)"))
    assert s.status == 3


def test_unbound_variable_in_negation(s):
    line = "?- account(A, _), not scp_attached(A, P)"
    out = s.handle(line)
    assert "E414" in out and "'P'" in out
    caret_under(out, line, 39, 1)


def test_syntax_errors_render_with_carets(s):
    out = s.handle("can dana")
    assert "E604" in out and "usage: can PRINCIPAL ACTION RESOURCE" in out
    out = s.handle("cna dana s3:PutObject *")
    assert "E608" in out and "did you mean 'can'?" in out
    caret_under(out, "cna dana s3:PutObject *", 1, 3)
    assert "E605" in s.handle(":lod x") and "E606" in s.handle(":format xml")


def test_no_world_loaded():
    fresh = Session()
    for line in ("can a s3:GetObject *", "who can s3:GetObject *", "what can a do on *", "?- account(A, _)",
                 ":world", ":reload"):
        out = fresh.handle(line)
        assert "E610" in out, line
        assert fresh.status == 3
    assert "relation" in fresh.handle(":relations") and "Queries:" in fresh.handle(":help")


def test_empty_world(tmp_path):
    empty = tmp_path / "empty.iaml"
    empty.write_text("# nothing here\n")
    s = Session([str(empty)])
    assert "0 account(s)" in s.banner
    assert s.handle("who can s3:GetObject *") == "no principal of the world can s3:GetObject on *"
    assert s.handle("?- account(A, N)") == "no answers"
    assert s.handle("can anonymous s3:GetObject arn:aws:s3:::b/k").startswith("ImplicitDeny: anonymous")
    assert "E504" in s.handle("can alice s3:GetObject *")
    assert "accounts (0)" in s.handle(":world")


def test_handle_never_raises():
    s = Session(world=iamlogic.load([CROSS]))
    rng = random.Random(99)
    words = ["can", "why", "not", "who", "what", "do", "on", "with", "dana", "s3:PutObject", "*", "?-", ":load",
             ":format", "json", "(", ")", '"', "'", "=", ",", "[", "]", "X", "not", "principal(P, _, _)", "\\", "\n",
             "arn:aws:s3:::b-reports/x", "k=v", ":explain", "nope", "\x00", "é"]
    for _ in range(150):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(0, 7)))
        out = s.handle(line)
        assert isinstance(out, str)
        assert "Traceback" not in out and "internal error" not in out, line
        if s.format == "json" and out:
            json.loads(out)


# -- commands ----------------------------------------------------------------------------------


def test_load_reload_and_world(tmp_path):
    s = Session()
    out = s.handle(f":load {CROSS}")
    assert out == f"loaded {CROSS}: 2 account(s), 2 user(s), 1 role(s), 1 resource(s)"
    out = s.handle(":world")
    assert "222222222222  account-a" in out and "arn:aws:s3:::b-reports" in out and "principals (5)" in out
    bad = tmp_path / "bad.iaml"
    bad.write_text('account 222222222222 "a" {\n  user dana { groups nope }\n}\n')
    out = s.handle(f":load '{bad}'")
    assert "E316" in out and "(the world was not changed)" in out and s.status == 3
    assert s.paths == [CROSS]
    assert s.handle(":reload").startswith(f"loaded {CROSS}")
    assert s.handle(":load /no/such/file.iaml").count("E320") == 1


def test_relations_help_settings_and_quit(s):
    out = s.handle(":relations")
    assert "principal" in out and "statement_applies" in out and "derived" in out and "action_match" in out
    assert "principal(P, Type, Acct)" in out
    assert s.handle(":help why not").startswith("why not PRINCIPAL")
    assert s.handle(":explain summary") == "explain: summary"
    assert s.handle(":format table") == "format: table"
    assert s.handle(":quit") == "" and s.done


def test_json_format(s):
    assert json.loads(s.handle(":format json")) == {"format": "json"}
    d = json.loads(s.handle("can dana s3:PutObject arn:aws:s3:::b-reports/x"))
    assert d["decision"] == "Allow" and {st["sid"] for st in d["statements"]} >= {"AllowDanaPut"}
    d = json.loads(s.handle("why dana s3:PutObject arn:aws:s3:::b-reports/x"))
    assert d["explanation"]["judgement"].startswith("decision(")
    d = json.loads(s.handle("why not noperm s3:PutObject arn:aws:s3:::b-reports/x"))
    assert d["decision"]["decision"] == "ImplicitDeny" and d["suggestions"]
    d = json.loads(s.handle("who can s3:PutObject arn:aws:s3:::b-reports/x"))
    assert [p["principal"] for p in d["principals"]][0] == DANA
    d = json.loads(s.handle("what can dana do on arn:aws:s3:::b-reports/x"))
    assert d["actions"] == {"s3": {"Write": ["s3:PutObject"]}} and d["as"] == DANA  # the name, resolved
    d = json.loads(s.handle('?- principal(P, "user", _)'))
    assert d["columns"] == ["P"] and [DANA] in d["rows"]
    d = json.loads(s.handle("?- principl(P)"))
    assert d["errors"][0]["code"] == "E410" and d["errors"][0]["help"] == "did you mean 'principal'?"
    d = json.loads(s.handle("can dana s3:PutObjekt *"))
    assert d["diagnostics"][0]["code"] == "W613"
    assert json.loads(s.handle(":world"))["accounts"][0]["id"] == "222222222222"
    assert json.loads(s.handle(":relations"))[0]["relation"] == "organization"


def test_completion(s):
    assert s.complete("ca") == ["can"]
    assert s.complete(":fo") == [":format"]
    assert s.complete(":format ") == ["table", "json"]
    assert s.complete(":explain b") == ["blockers"]
    assert "dana" in s.complete("can d") and DANA in s.complete("can arn:aws:iam::222")
    assert s.complete("can dana s3:Put") == ["s3:PutObject"]
    assert "arn:aws:s3:::b-reports" in s.complete("can dana s3:PutObject arn:aws:s3")
    assert s.complete("can dana s3:PutObject * ") == ["with"]
    assert "not" in s.complete("why ")
    assert s.complete("who ") == ["can"] and s.complete("what can dana ") == ["do"]
    assert "principal" in s.complete("?- princ") and "principal_tag" in s.complete("?- account(A, _), principal_t")
    assert s.complete("who can s3:Get") == ["s3:GetObject"]


def test_rich_rendering_for_a_terminal(world):
    s = Session(world=world, rich=True, width=160)
    out = s.handle("can dana s3:PutObject arn:aws:s3:::b-reports/x")
    assert "\x1b[" in out and "Allow" in out
    out = s.handle("who can s3:PutObject 'arn:aws:s3:::b-reports/[x]'")  # brackets are quoted
    assert "[x]" in out and "CrossRole" in out
    out = s.handle("why dana s3:PutObject arn:aws:s3:::b-reports/x")
    assert "[rule rules/60-decision.dl:" in out
    out = s.handle('?- statement_sid(S, "[not markup]")')
    assert out == "no answers"
    assert "E504" in s.handle("can nobody s3:PutObject *")


# -- the command line --------------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_query_command_exit_codes(capsys):
    code, out, _ = run(capsys, "query", CROSS, "can dana s3:PutObject arn:aws:s3:::b-reports/x")
    assert code == 0 and out.startswith("Allow:")
    code, out, _ = run(capsys, "query", CROSS, "can noperm s3:PutObject arn:aws:s3:::b-reports/x")
    assert code == 2 and out.startswith("ImplicitDeny:")
    code, out, _ = run(capsys, "query", CROSS, "why not noperm s3:PutObject arn:aws:s3:::b-reports/x")
    assert code == 0 and "would allow it" in out
    code, out, _ = run(capsys, "query", CROSS, "can nobody s3:PutObject *")
    assert code == 3 and "E504" in out
    code, out, _ = run(capsys, "query", CROSS, "who can s3:PutObject arn:aws:s3:::b-reports/x", "--format", "json")
    assert code == 0 and json.loads(out)["principals"][0]["principal"] == DANA
    code, out, _ = run(capsys, "query", CROSS, "?- nope(X)", "--format", "json")
    assert code == 3 and json.loads(out)["errors"][0]["code"] == "E410"
    code, _, err = run(capsys, "query", "/no/such.iaml", "can a b c")
    assert code == 3 and "E320" in err
    code, _, err = run(capsys, "query", CROSS)
    assert code == 3 and "give the world's files, then the query" in err


def test_diff_command(tmp_path, capsys):
    new = tmp_path / "new.iaml"
    new.write_text(open(CROSS).read().replace('sid "AllowAccountARead" allow s3:GetObject',
                                              'sid "AllowAccountARead" allow s3:GetObject, s3:ListBucket'))
    scope = ["--principal", "arn:aws:iam::222222222222:root", "--principal", DANA, "--action", "s3:ListBucket",
             "--action", "s3:GetObject"]
    code, out, err = run(capsys, "diff", CROSS, "--", str(new), *scope)
    assert code == 1, out + err
    assert out.splitlines()[0] == ("+ new access: arn:aws:iam::222222222222:root s3:ListBucket arn:aws:s3:::b-reports/* "
                                   "(ImplicitDeny -> Allow)")
    assert "'AllowAccountARead'" in out and "1 change(s): 1 new access" in err
    code, out, _ = run(capsys, "diff", "--format", "json", str(new), "--", CROSS, *scope)
    (line,) = out.splitlines()
    assert code == 0 and json.loads(line)["kind"] == "access removed"
    code, out, err = run(capsys, "diff", CROSS, "--", CROSS, "--format", "json", *scope)
    assert code == 0 and out == "" and "0 change(s)" in err
    code, _, err = run(capsys, "diff", CROSS)
    assert code == 3 and "then --" in err
    code, _, err = run(capsys, "diff", CROSS, "--", "/no/such.iaml")
    assert code == 3 and "E320" in err
    code, _, err = run(capsys, "diff", CROSS, "--", CROSS, "--principal", "nobody")  # not "no change"
    assert code == 3 and "E504" in err
    code, out, err = run(capsys, "diff", CROSS, "--", str(new), "--action", "s3:ListBucket", "--context",
                         "aws:SourceIp=10.0.0.1", "--format", "json", "--principal", "arn:aws:iam::222222222222:root")
    assert code == 1 and "context" not in json.loads(out.splitlines()[0])  # the key given is not repeated
    code, _, err = run(capsys, "diff", CROSS, "--", str(new), "--context", "aws:SourceIp=10.0.0.300", *scope)
    assert code == 3 and "E511" in err and "is not an IP address" in err  # not "no change" in both worlds


def test_diff_command_summary(tmp_path, capsys, monkeypatch):
    """--summary: one line for each principal, action and change, with its number of requests and
    one of them with its statements; a flag after -- takes no value (the new world's file stays one)."""
    old, new = tmp_path / "old.iaml", tmp_path / "new.iaml"
    old.write_text('account 111122223333 "a" {\n'
                   '  user dev { policy P { allow s3:GetObject on "arn:aws:s3:::b/*" } }\n'
                   '  user ops { policy P { allow s3:ListBucket on "arn:aws:s3:::b" } }\n'
                   '  resource "arn:aws:s3:::b" { }\n  resource "arn:aws:s3:::c" { }\n}\n')
    new.write_text(old.read_text().replace('allow s3:GetObject on "arn:aws:s3:::b/*"', "allow s3:GetObject on *")
                   .replace("allow s3:ListBucket", "deny s3:ListBucket"))
    code, out, err = run(capsys, "diff", str(old), "--", "--summary", str(new))
    assert code == 1, out + err
    dev, ops = "arn:aws:iam::111122223333:user/dev", "arn:aws:iam::111122223333:user/ops"
    assert out.splitlines() == [
        f"+ new access: {dev} s3:GetObject on 3 request(s) (ImplicitDeny -> Allow), such as *",
        f"    allowed by Allow statement 0 of identity policy P ({new}:2:25)",
        f"- access removed: {ops} s3:ListBucket on 1 request(s) (Allow -> ExplicitDeny), such as arn:aws:s3:::b",
        f"    allowed by Allow statement 0 of identity policy P ({old}:3:25)",
        f"    denied by Deny statement 0 of identity policy P ({new}:3:25)"]  # what allowed, and what denies now
    assert "4 change(s): 3 new access, 1 removed, 0 denial(s) changed, in 2 group(s)" in err
    code, out, _ = run(capsys, "diff", str(old), "--", str(new), "--summary", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [(r["principal"], r["action"], r["requests"], r["example"]["resource"]) for r in rows] == [
        (dev, "s3:GetObject", 3, "*"), (ops, "s3:ListBucket", 1, "arn:aws:s3:::b")]
    assert rows[0]["example"]["statements"][0]["line"] == 2
    assert [(s["effect"], s["file"]) for s in rows[1]["example"]["statements"]] == [("Allow", str(old)),
                                                                                    ("Deny", str(new))]
    # an action given in another case: one group, as the catalog spells it
    code, out, _ = run(capsys, "diff", str(old), "--", str(new), "--summary", "--action", "s3:getobject")
    assert code == 1 and out.splitlines()[0] == (f"+ new access: {dev} s3:GetObject on 3 request(s) "
                                                 "(ImplicitDeny -> Allow), such as *"), out
    # each request, without --summary, in the scope's order
    code, out, _ = run(capsys, "diff", str(old), "--", str(new))
    assert [line.split()[5] for line in out.splitlines() if not line.startswith(" ")] == [
        "*", "arn:aws:s3:::b", "arn:aws:s3:::c", "arn:aws:s3:::b"]
    # in two processes (a block of one request each), -j after -- an option too: the same lines
    monkeypatch.setattr(analysis, "_DIFF_BLOCK", 1)
    assert run(capsys, "diff", str(old), "--", str(new), "-j", "2")[:2] == (code, out)
    assert run(capsys, "diff", str(old), "--", "-j2", str(new), "--summary")[1] == run(
        capsys, "diff", str(old), "--", str(new), "--summary")[1]
    assert run(capsys, "diff", str(old), "--", str(new), "--jobs", "0")[0] == 3
    # on a terminal, how far it has got, on standard error (erased at the end)
    monkeypatch.setattr(analysis, "_DIFF_BLOCK", 2)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    clock = itertools.count(0, 5)
    monkeypatch.setattr(repl.time, "monotonic", lambda: next(clock))
    summary = run(capsys, "diff", str(old), "--", str(new), "--summary")
    shown = re.findall(r"\r\(asked ([0-9]+) of ([0-9]+) requests, ([0-9]+) %, [0-9]+ s\)", summary[2])
    assert [int(a) for a, _, _ in shown] == [2, 4, 5] and {t for _, t, _ in shown} == {"5"}, summary[2]
    assert shown[-1][2] == "100" and "\r\033[K" in summary[2]
    assert summary[1] == run(capsys, "diff", str(old), "--", str(new), "--summary")[1]


HOMES = '''account 111122223333 "a" {
  role ci {
    id "AROAEXAMPLECIROLE001"
    trust { allow sts:AssumeRole principal aws "111122223333" }
    policy Home { allow s3:GetObject on "arn:aws:s3:::homes/${aws:userid}/*" }
  }
}
'''
CI_HOME = "arn:aws:s3:::homes/AROAEXAMPLECIROLE001:build/k"


def test_who_can_and_what_can_show_what_they_could_not_decide(tmp_path, capsys):
    """The answer, then each request whose answer depends on what the world does not give, with
    its error; the status says the answer is incomplete."""
    world = tmp_path / "homes.iaml"
    world.write_text(HOMES)
    code, out, _ = run(capsys, "query", str(world), f"who can s3:GetObject {CI_HOME}")
    lines = out.splitlines()
    assert code == 3 and lines[0] == f"1 principal(s) can s3:GetObject on {CI_HOME}", out
    assert "1 request(s) could not be decided" in out
    assert f"  arn:aws:iam::111122223333:role/ci s3:GetObject {CI_HOME}:" in lines
    assert f"{world}:5:19: E507: " in out and "reads aws:userid" in out
    code, out, _ = run(capsys, "query", "--format", "json", str(world), f"who can s3:GetObject {CI_HOME}")
    data = json.loads(out)
    assert code == 3 and [p["principal"] for p in data["principals"]] == ["arn:aws:iam::111122223333:root"]
    assert [(u["principal"], u["diagnostic"]["code"]) for u in data["undetermined"]] == [
        ("arn:aws:iam::111122223333:role/ci", "E507")]
    code, out, _ = run(capsys, "query", str(world), f"what can arn:aws:iam::111122223333:role/ci do on {CI_HOME}")
    assert code == 3 and "can do nothing known" in out and "E507" in out
    # the session is decided
    code, out, _ = run(capsys, "query", str(world),
                       f"what can arn:aws:sts::111122223333:assumed-role/ci/build do on {CI_HOME}")
    assert code == 0 and "can do 1 action(s)" in out and "E507" not in out


def test_diff_command_lists_what_it_could_not_decide(tmp_path, capsys):
    old, new = tmp_path / "old.iaml", tmp_path / "new.iaml"
    old.write_text(HOMES)
    new.write_text(HOMES.replace("role ci {", "user dev { policy P { allow s3:GetObject on * } }\n  role ci {"))
    wider = tmp_path / "wider.iaml"  # the statement also allows another action
    wider.write_text(HOMES.replace("allow s3:GetObject on", "allow s3:GetObject, s3:GetObjectVersion on"))
    scope = ["--action", "s3:GetObject", "--resource", CI_HOME]
    code, out, err = run(capsys, "diff", str(old), "--", str(wider), *scope)
    assert code == 3, out + err
    assert out.startswith(f"? arn:aws:iam::111122223333:role/ci s3:GetObject {CI_HOME}: not decided\n    {old}:5:19: E507")
    assert "0 change(s)" in err and "2 request(s) not decided" in err  # once in each world
    # a world and itself: no statement differs, so no request can change, and none is asked
    code, out, err = run(capsys, "diff", str(old), "--", str(old), *scope)
    assert code == 0 and out == "" and "0 change(s)" in err and "no request can change; asked none of the 3 requests" in err
    code, out, err = run(capsys, "diff", str(old), "--", str(new), "--format", "json", *scope)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and rows[0]["kind"] == "new access" and "user/dev" in rows[0]["principal"]
    # (a user added: only the requests it makes are asked, not the role's, undecided in both worlds)
    assert len(rows) == 1 and "1 change(s)" in err and "not decided" not in err


# -- the terminal face -------------------------------------------------------------------------


def test_run_repl_with_pipe_input_ctrl_c_and_ctrl_d(tmp_path, monkeypatch):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    monkeypatch.setenv("IAMLOGIC_HISTORY", str(tmp_path / "hist"))
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text("can dana s3:Put\x03")  # Ctrl-C drops the line
        pipe.send_text("can dana s3:PutObject arn:aws:s3:::b-reports/x\r")
        pipe.send_text("\x04")  # Ctrl-D leaves
        assert run_repl([CROSS], input=pipe, output=DummyOutput(), stdout=out) == 0
    text = out.getvalue()
    assert "loaded" in text and "Allow: " + DANA in text
    assert text.count("Allow:") == 1
    assert "can dana s3:PutObject" in (tmp_path / "hist").read_text()


def test_a_script_on_standard_input_is_answered_line_by_line(tmp_path):
    script = tmp_path / "queries.txt"
    script.write_text("can dana s3:PutObject arn:aws:s3:::b-reports/x\n?- principal(P, \"user\",\n   A).\n")
    with open(script) as stdin:  # redirected from a file: not a terminal
        done = subprocess.run([sys.executable, "-m", "iamlogic.cli", "repl", CROSS], stdin=stdin, capture_output=True,
                              text=True, cwd=str(ROOT), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Allow: " + DANA in done.stdout and "answer(s)" in done.stdout  # the query continued over two lines
    assert "\x1b" not in done.stdout and "iamlogic>" not in done.stdout and "not a terminal" not in done.stderr


def test_a_script_with_an_invalid_line_exits_3(tmp_path):
    def run(text):
        script = tmp_path / "queries.txt"
        script.write_text(text)
        with open(script) as stdin:
            return subprocess.run([sys.executable, "-m", "iamlogic.cli", "repl", CROSS], stdin=stdin,
                                  capture_output=True, text=True, cwd=str(ROOT), timeout=120)

    denied = run("can dana s3:DeleteBucket arn:aws:s3:::b-reports\n")
    assert denied.returncode == 0 and "Deny" in denied.stdout  # a denial is an answer, not a failure
    bad = run("can dana s3:PutObject (\ncan dana s3:PutObject arn:aws:s3:::b-reports/x\n")
    assert bad.returncode == 3, bad.stdout
    assert "Allow: " + DANA in bad.stdout  # the lines after the invalid one are still answered


def test_a_script_diagnostic_says_its_line_of_the_script(tmp_path):
    script = tmp_path / "queries.txt"
    script.write_text("can dana s3:PutObject arn:aws:s3:::b-reports/x\n\n\ncan dana s3:PutObject arn:aws:s3:::b (\n"
                      "?- principal(P,\n   T).\ncan dana s3:PutObjekt *\n")
    with open(script) as stdin:
        done = subprocess.run([sys.executable, "-m", "iamlogic.cli", "repl", CROSS], stdin=stdin, capture_output=True,
                              text=True, cwd=str(ROOT), timeout=120)
    assert done.returncode == 3
    out = done.stdout
    assert "<input>:4:38: E601" in out  # a syntax error on line 4
    assert "<input>:5:4: E411" in out  # a query over lines 5 and 6: at its first line
    assert "<input>:7:10: W613" in out
    caret_under(out, "can dana s3:PutObjekt *", 10, 12)


def test_end_to_end_in_a_pseudo_terminal(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, HOME=str(tmp_path), IAMLOGIC_HISTORY="", TERM="xterm", NO_COLOR="1",
               PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="200", LINES="50")
    env.pop("IAMLOGIC_HISTORY")
    child = pexpect.spawn(sys.executable, ["-m", "iamlogic.cli", "repl"], cwd=str(ROOT), env=env,
                          encoding="utf-8", timeout=30, dimensions=(50, 200))
    try:
        child.expect("iamlogic>")
        child.sendline(":load examples/cross-account/world.iaml")
        child.expect(r"loaded examples/cross-account/world\.iaml: 2 account\(s\)")
        child.expect("iamlogic>")
        child.sendline("can dana s3:PutObject arn:aws:s3:::b-reports/x")
        child.expect("Allow")
        child.expect("AllowDanaPut")
        child.expect("iamlogic>")
        child.sendline("why not noperm s3:PutObject arn:aws:s3:::b-reports/x")
        child.expect("ImplicitDeny")
        child.expect("would allow it")
        child.expect("iamlogic>")
        child.sendline("who can s3:GetObject arn:aws:s3:::b-reports/x")
        child.expect(r"2 principal\(s\) can s3:GetObject")
        child.expect("AllowAccountARead")
        child.expect("iamlogic>")
        child.sendline('?- principal(P, "user", _)')
        child.expect(r"2 answer\(s\)")
        child.expect("user/noperm")
        child.expect("iamlogic>")
        child.sendline("can dana s3:PutObject bogus")
        child.expect("E611: malformed resource 'bogus'")
        child.expect(r"\^\^\^\^\^")
        child.expect("iamlogic>")
        child.sendline(":quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "who can s3:GetObject" in (tmp_path / ".iamlogic_history").read_text()


def test_graph_command_draws_and_writes(tmp_path):
    from iamlogic.repl import Session

    s = Session(paths=[str(Path(__file__).resolve().parents[2] / "examples" / "organization" / "world.iaml")])
    assert s.handle(":graph org").startswith("digraph organization")
    assert "role/Deployer" in s.handle(":graph reach")
    out = tmp_path / "org.dot"
    assert s.handle(f":graph org {out}") == f"wrote {out}"
    assert out.read_text().startswith("digraph")
    assert "E606" in s.handle(":graph tree")
