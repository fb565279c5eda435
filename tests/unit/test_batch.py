"""``iamlogic batch``: JSON lines in, JSON lines out, in one or several processes."""

from __future__ import annotations

import io
import json

import pytest

from iamlogic.batch import parse_request, run_batch
from iamlogic.cli import main
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.world import load

from ..conftest import EXAMPLES

WORLD = str(EXAMPLES / "organization" / "world.iaml")
GOOD = [
    {"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/k"},
    {"principal": "bob", "action": "redshift:CreateCluster", "resource": "*"},
    {"principal": "anonymous", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/k",
     "context": {"aws:SecureTransport": True}},
]


def _lines(items):
    return [json.dumps(i) if not isinstance(i, str) else i for i in items]


def test_every_line_is_answered_in_order_and_bad_lines_say_why():
    lines = _lines([GOOD[0], "not json", "# a comment", "", {"principal": "nobody", "action": "s3:GetObject",
                    "resource": "*"}, {"principal": "alice"}, {"principal": "a", "action": "b", "resource": "c",
                                                                  "colour": "red"}, GOOD[1]])
    out = io.StringIO()
    decided, failed = run_batch(load([WORLD]), lines, out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 5, 6, 7, 8]
    assert (decided, failed) == (2, 4)
    assert rows[0]["decision"] == "Allow" and rows[0]["statements"]
    assert rows[1]["error"].startswith("not JSON")
    assert "E504" in rows[2]["error"]
    assert "action, resource must be given" in rows[3]["error"]
    assert "unknown key(s) colour" in rows[4]["error"]
    assert rows[5]["decision"] == "ExplicitDeny" and "DenyRedshift" in rows[5]["statements"][0]


def test_a_repeated_line_is_answered_in_each_of_its_places_and_counted_each_time():
    bad = {"principal": "nobody", "action": "s3:GetObject", "resource": "*"}
    lines = _lines([GOOD[0], bad, GOOD[1], GOOD[0], bad, "not json", "not json", GOOD[0]])
    out = io.StringIO()
    decided, failed = run_batch(load([WORLD]), lines, out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["line"] for r in rows] == list(range(1, 9))
    assert (decided, failed) == (4, 4)
    assert rows[3] == dict(rows[0], line=4) and rows[7] == dict(rows[0], line=8)
    assert rows[4] == dict(rows[1], line=5) and "E504" in rows[4]["error"]
    assert rows[6] == dict(rows[5], line=7)


def test_answers_agree_with_check_and_two_processes_agree_with_one():
    world = load([WORLD])
    lines = _lines(GOOD * 400)  # several chunks
    one, two = io.StringIO(), io.StringIO()
    run_batch(world, lines, one, jobs=1)
    run_batch(load([WORLD]), lines, two, jobs=2)
    assert one.getvalue() == two.getvalue()
    rows = [json.loads(x) for x in one.getvalue().splitlines()]
    for r, g in zip(rows, GOOD):
        assert r["decision"] == world.check(g["principal"], g["action"], g["resource"], g.get("context")).decision


def test_parse_request_rejects_non_objects_and_bad_context_and_skips_blanks_and_comments():
    found = [parse_request(t) for t in ['[1, 2]', '{"principal": "a", "action": "b", "resource": "c", "context": [1]}',
                                        '{"principal": "a", "action": "b", "resource": "c", "federating_user": 5}',
                                        "  \n", "# {}", '{"principal": "a", "action": "b", "resource": "c"} x']]
    assert found == [(None, "a request is a JSON object"), (None, "context must be an object of condition keys"),
                     (None, "federating_user must be given as a string"), (None, None), (None, None),
                     (None, "not JSON: Extra data at column 52")]
    assert parse_request(' {"principal": "a", "action": "b", "resource": "c", "context": {"k": "v"}}\n') == (
        ("a", "b", "c", {"k": "v"}, None, None), None)
    # columns count the line as written; a comment is skipped whatever it holds
    assert parse_request('   {"principal": "a",, "action": "b"}') == (None, "not JSON: Expecting property name "
                                                                           "enclosed in double quotes at column 22")
    assert parse_request('  # caf\udce9: a comment read from Latin-1 bytes') == (None, None)


def test_a_key_given_twice_is_an_error_at_any_depth():
    three = '{"principal": "a", "action": "b", "resource": "c"'
    assert parse_request(three + ', "principal": "d"}') == (None, "key 'principal' is given twice in one object")
    assert parse_request(three + ', "resource": "d"}') == (None, "key 'resource' is given twice in one object")
    assert parse_request(three + ', "context": {"k": "1", "k": "2"}}') == (
        None, "key 'k' is given twice in one object")
    assert parse_request('{"principal": "a\\"", "action": "b", "resource": "c"}') == (
        ('a"', "b", "c", None, None, None), None)  # an escaped quote in a value is not a key


def test_context_numbers_must_be_finite():
    for text in ("NaN", "Infinity", "-Infinity", "1e400"):
        with pytest.raises(InvalidInput, match="E506.*not a finite number"):
            load([WORLD]).check("alice", "s3:GetObject", "arn:aws:s3:::reports-a/k",
                                {"aws:MultiFactorAuthAge": json.loads(text)})


def test_cli_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(_lines(GOOD)) + "\n")
    assert main(["batch", WORLD, str(good), "--jobs", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(_lines([GOOD[0], "{"])) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", WORLD, str(bad), "--output", str(out)]) == 3
    assert "1 request(s) could not be decided" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 2
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::r/\xff"}\n')
    for jobs in ("1", "2"):  # an error answer of its line, with the byte and where it is
        assert main(["batch", WORLD, str(latin), "--jobs", jobs]) == 3
        assert json.loads(capsys.readouterr().out) == {"line": 1, "error": "not UTF-8 text: byte 0xff at column 78"}
    assert main(["batch", WORLD]) == 3
    assert main(["batch", WORLD, str(tmp_path / "missing.jsonl")]) == 3


def test_each_answer_is_the_json_of_its_object_and_blocks_do_not_change_answers(monkeypatch):
    import iamlogic.batch as batch

    world = load([WORLD])
    odd = [dict(GOOD[0], resource='arn:aws:s3:::reports-a/ü "q"\\x'),
           {"principal": "alice", "action": "s3:NoSuchAction", "resource": "*"},  # a warning
           {"principal": "nobody", "action": "s3:GetObject", "resource": "*"}]  # an error, on each of its lines
    lines = _lines((GOOD + odd) * 7 + ["", "not json"])
    whole = io.StringIO()
    assert run_batch(world, lines, whole) == (len(lines) - 1 - 8, 8)
    for text in whole.getvalue().splitlines():
        row = json.loads(text)
        assert text == json.dumps(row, ensure_ascii=False)
        if "error" not in row:
            d = world.check(row["principal"], row["action"], row["resource"],
                            json.loads(lines[row["line"] - 1]).get("context"))
            assert (row["decision"], row["statements"], row["missing_context"], row["warnings"]) == (
                d.decision, [s.label() for s in d.statements], list(d.missing_context), list(d.warnings))
    assert any(json.loads(t)["warnings"] for t in whole.getvalue().splitlines()[:-1])
    monkeypatch.setattr(batch, "BLOCK", 4)
    for jobs in (1, 2):
        small = io.StringIO()
        assert run_batch(load([WORLD]), lines, small, jobs=jobs) == (len(lines) - 1 - 8, 8)
        assert small.getvalue() == whole.getvalue()


def test_the_garbage_collector_is_left_as_it_was():
    import gc

    world = load([WORLD])
    assert gc.isenabled()
    run_batch(world, _lines(GOOD), io.StringIO())
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        run_batch(world, _lines(GOOD), io.StringIO())
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()  # as a service does after loading its world
    try:
        run_batch(world, _lines(GOOD), io.StringIO())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_session_policies_and_federating_users_are_read_from_lines():
    from iamlogic import World
    from iamlogic.grammar.ast import WorldModel
    from iamlogic.grammar.world import parse_world

    from .test_evaluate import SESSION_EC2_ONLY, WORLD as SESSIONS

    wf, _ = parse_world(SESSIONS)
    world = World(WorldModel(accounts=wf.accounts))
    role = "arn:aws:sts::111122223333:assumed-role/Worker/s1"
    fed = {"principal": "arn:aws:sts::111122223333:federated-user/fed",
           "federating_user": "arn:aws:iam::111122223333:user/federator"}
    items = [{"principal": role, "action": "s3:GetObject", "resource": "arn:aws:s3:::by-role/k"},
             {"principal": role, "action": "s3:GetObject", "resource": "arn:aws:s3:::by-role/k",
              "session_policy": SESSION_EC2_ONLY},
             dict(fed, action="s3:ListBucket", resource="*"),
             dict(fed, action="s3:ListBucket", resource="*", session_policy={
                 "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}),
             {"principal": "alice", "action": "s3:GetObject", "resource": "*", "session_policy": SESSION_EC2_ONLY},
             dict(fed, action="s3:ListBucket", resource="*", session_policy={"Statement": "nonsense"})]
    out = io.StringIO()
    assert run_batch(world, _lines(items * 10), out) == (40, 20)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    for row, item in zip(rows, items):
        if "error" in row:
            assert row["line"] in (5, 6)
            continue
        d = world.check(item["principal"], item["action"], item["resource"],
                        session_policy=item.get("session_policy"), federating_user=item.get("federating_user"))
        assert row["decision"] == d.decision
    assert [r.get("decision", "error") for r in rows[:6]] == ["Allow", "ImplicitDeny", "ImplicitDeny", "Allow",
                                                             "error", "error"]


def test_a_context_value_that_is_not_a_string_number_boolean_or_list_of_them_is_an_error():
    base = {"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/k"}
    bad = [{"aws:SourceIp": None}, {"aws:SourceIp": {"x": 1}}, {"aws:SourceIp": [["10.0.0.1"]]},
           {"aws:SourceIp": [None]}]
    good = [{"aws:SourceIp": "10.0.0.1"}, {"aws:MultiFactorAuthAge": 60}, {"aws:SecureTransport": True},
            {"aws:SourceIp": ["10.0.0.1", "10.0.0.2"]}]
    out = io.StringIO()
    world = load([WORLD])
    assert run_batch(world, _lines([dict(base, context=c) for c in bad + good]), out) == (4, 4)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    for row in rows[:4]:
        assert row["error"].startswith("E506: context key aws:") and "not " in row["error"]
    assert all("decision" in row for row in rows[4:])
    with pytest.raises(InvalidInput) as exc:
        world.check(base["principal"], base["action"], base["resource"], {"aws:SourceIp": None})
    assert "E506" in str(exc.value.diagnostics[0].code)


def test_an_error_that_a_statement_causes_says_where_the_statement_is(tmp_path):
    world = tmp_path / "w.iaml"
    world.write_text('account 111122223333 "dev" {\n  user bob { policy P {\n'
                     '    deny s3:GetObject on * when StringLike aws:userid "AIDA*"\n  } }\n}\n', encoding="utf-8")
    out = io.StringIO()
    run_batch(load([str(world)]), _lines([{"principal": "bob", "action": "s3:GetObject", "resource": "*"}]), out)
    row = json.loads(out.getvalue())
    assert row["error"].startswith(f"{world}:3:5: E507: ") and "aws:userid" in row["error"]


def test_a_line_of_lists_is_the_product_of_its_requests_in_any_blocks(monkeypatch):
    import iamlogic.batch as batch

    world = load([WORLD])
    principals, actions = ["alice", "bob", "nobody"], ["s3:GetObject", "redshift:CreateCluster"]
    resources = ["arn:aws:s3:::reports-a/k", "*"]
    context = {"aws:SecureTransport": True}
    lines = _lines([GOOD[1], {"principal": principals, "action": actions, "resource": resources, "context": context},
                    {"principal": "alice", "action": actions, "resource": "*"}, GOOD[0]])
    whole = io.StringIO()
    assert run_batch(world, lines, whole) == (12, 4)
    rows = [json.loads(x) for x in whole.getvalue().splitlines()]
    assert [r["line"] for r in rows] == [1] + [2] * 12 + [3, 3, 4]
    cells = [(p, a, r) for p in principals for a in actions for r in resources]
    for row, (p, a, r) in zip(rows[1:13], cells):  # principals outermost, resources innermost
        assert (row["principal"], row["action"], row["resource"]) == (p, a, r)
        if p == "nobody":
            assert "E504" in row["error"]
            continue
        d = world.check(p, a, r, context)
        assert (row["decision"], row["statements"]) == (d.decision, [s.label() for s in d.statements])
    assert [r["decision"] for r in rows[13:15]] == [world.check("alice", a, "*").decision for a in actions]
    for size in (1, 3, 5, 7):
        monkeypatch.setattr(batch, "BLOCK", size)
        for jobs in (1, 2):
            out = io.StringIO()
            assert run_batch(load([WORLD]), lines, out, jobs=jobs) == (12, 4)
            assert out.getvalue() == whole.getvalue()


def test_a_product_needs_non_empty_lists_of_strings():
    base = {"principal": ["alice"], "action": "s3:GetObject", "resource": "*"}
    for bad, field in (({"principal": []}, "principal"), ({"action": ["s3:GetObject", 1]}, "action"),
                       ({"resource": [["*"]]}, "resource"), ({"principal": 5, "resource": []}, "principal, resource")):
        assert parse_request(json.dumps(dict(base, **bad))) == (
            None, f"{field} must be given as strings or non-empty lists of strings")
    assert parse_request(json.dumps(base))[0][:3] == (("alice",), "s3:GetObject", "*")


def test_a_product_of_one_request_and_a_line_nested_too_deeply_are_answered():
    deep = '{"principal": "alice", "action": "s3:GetObject", "resource": "*", "context": {"k": %s}}' % (
        "[" * 5000 + "]" * 5000)
    lines = _lines([{"principal": ["alice"], "action": "s3:GetObject", "resource": "*"}, deep, GOOD[1]])
    for jobs in (1, 2):
        out = io.StringIO()
        assert run_batch(load([WORLD]), lines, out, jobs=jobs) == (2, 1)
        rows = [json.loads(x) for x in out.getvalue().splitlines()]
        assert [r["line"] for r in rows] == [1, 2, 3]
        assert rows[0]["principal"] == "alice" and rows[0]["decision"] == "Allow"
        assert rows[1]["error"] == "values nested too deeply to read"


@pytest.fixture
def deadline():
    """A run of worker processes that hangs (a block whose turn never comes) fails the test after
    two minutes instead of holding the suite."""
    import signal

    def expired(signum, frame):
        raise TimeoutError("the run took more than 120 s: it hangs")

    before = signal.signal(signal.SIGALRM, expired)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


def _odd_lines():
    odd = [dict(GOOD[0], resource='arn:aws:s3:::reports-a/ü "q"'),
           {"principal": "nobody", "action": "s3:GetObject", "resource": "*"},  # an error
           {"principal": ["alice", "bob"], "action": ["s3:GetObject", "s3:PutObject"],
            "resource": ["arn:aws:s3:::reports-a/k", "arn:aws:s3:::reports-a/ß", "*"]}]  # a product
    return _lines((GOOD + odd) * 9)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_worker_processes_write_a_file_in_the_order_of_its_lines(monkeypatch, tmp_path, deadline, encoding):
    """With --jobs N and an output file of UTF-8 text, the workers write the answers to the file
    themselves, each block in its turn; a file of another encoding gets its answers from the
    parent. Either way the file holds what one process writes, after what was written before."""
    import iamlogic.batch as batch

    lines = _odd_lines()
    one = io.StringIO()
    counts = run_batch(load([WORLD]), lines, one)
    monkeypatch.setattr(batch, "BLOCK", 5)

    def unused(*args):
        raise AssertionError("the other way of writing the answers")

    # the workers are forked: they take these from the module as patched
    monkeypatch.setattr(batch, "_worker" if encoding == "utf-8" else "_writing_worker", unused)
    path = tmp_path / "answers.jsonl"
    with path.open("w", encoding=encoding) as out:
        out.write("# before\n")  # still in the file object's buffer when the workers start
        assert run_batch(load([WORLD]), lines, out, jobs=2, direct=True) == counts
        out.write("# after\n")
    assert path.read_text(encoding=encoding) == "# before\n" + one.getvalue() + "# after\n"


def test_the_descriptor_is_taken_only_for_utf8_text_that_open_made(tmp_path):
    import gzip

    import iamlogic.batch as batch

    assert batch._descriptor(io.StringIO()) is None
    assert batch._descriptor(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")) is None
    with open(tmp_path / "a", "w", encoding="latin-1") as f:
        assert batch._descriptor(f) is None
    with open(tmp_path / "a", "w", encoding="UTF8") as f:
        assert batch._descriptor(f) == f.fileno()
    with open(__file__, encoding="utf-8") as f:  # not for writing
        assert batch._descriptor(f) is None
    with gzip.open(tmp_path / "a.gz", "wt", encoding="utf-8") as f:  # its descriptor is the compressed file's
        assert batch._descriptor(f) is None


def test_without_direct_the_answers_pass_through_the_stream(monkeypatch, tmp_path, deadline):
    """A library caller's stream may stand between text and bytes (compression, line ends, a copy
    to a log): the workers write to its descriptor only when the caller says so (the CLI does)."""
    import gzip

    import iamlogic.batch as batch

    lines = _odd_lines()
    one = io.StringIO()
    run_batch(load([WORLD]), lines, one)

    def unused(*args):
        raise AssertionError("the workers wrote to the descriptor")

    monkeypatch.setattr(batch, "BLOCK", 5)
    monkeypatch.setattr(batch, "_writing_worker", unused)
    with gzip.open(tmp_path / "a.gz", "wt", encoding="utf-8") as out:
        run_batch(load([WORLD]), lines, out, jobs=2)
    with open(tmp_path / "crlf.txt", "w", encoding="utf-8", newline="\r\n") as out:
        run_batch(load([WORLD]), lines, out, jobs=2)
    assert gzip.open(tmp_path / "a.gz", "rt", encoding="utf-8").read() == one.getvalue()
    assert (tmp_path / "crlf.txt").read_bytes() == one.getvalue().replace("\n", "\r\n").encode()


def test_a_failing_worker_fails_the_run_without_waiting_for_its_turn(monkeypatch, tmp_path, deadline):
    """A block that fails in a worker (here the third) ends the run with its error; the workers
    waiting to write the blocks after it are stopped, not left waiting."""
    import iamlogic.batch as batch

    decide = batch.decide_block

    def failing(world, block):
        if block[0] > 10:
            raise RuntimeError("a block failed")
        return decide(world, block)

    monkeypatch.setattr(batch, "BLOCK", 5)
    monkeypatch.setattr(batch, "decide_block", failing)
    with (tmp_path / "answers.jsonl").open("w", encoding="utf-8") as out, pytest.raises(RuntimeError, match="a block"):
        run_batch(load([WORLD]), _odd_lines(), out, jobs=2, direct=True)


def test_cli_batch_with_jobs_writes_standard_output_in_order(tmp_path):
    import subprocess
    import sys

    lines = _odd_lines() * 150  # two blocks of BLOCK requests: two processes
    src = tmp_path / "requests.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = io.StringIO()
    run_batch(load([WORLD]), lines, one)
    done = subprocess.run([sys.executable, "-m", "iamlogic", "batch", WORLD, str(src), "--jobs", "2"],
                          capture_output=True, timeout=300)
    assert done.returncode == 3  # some requests could not be decided
    assert done.stdout.decode("utf-8") == one.getvalue()


def test_a_lone_surrogate_is_an_error_of_its_line_not_of_the_run(tmp_path):
    lines = ['{"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/\\ud800"}',
             '{"principal": ["alice"], "action": "s3:GetObject", "resource": ["\\udfff", "*"]}',
             '{"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/\\ud83d\\ude00"}',
             # a byte that is not UTF-8, as a stream that keeps such bytes (surrogateescape) reads it
             '{"principal": "alice", "action": "s3:GetObject", "resource": "arn:aws:s3:::reports-a/\udcff"}']
    with (tmp_path / "answers.jsonl").open("w", encoding="utf-8") as out:
        assert run_batch(load([WORLD]), lines, out) == (1, 3)
    rows = [json.loads(x) for x in (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["error"] == "not Unicode text: \\ud800 is a lone surrogate"
    assert rows[1]["error"] == "not Unicode text: \\udfff is a lone surrogate"
    assert rows[2]["resource"].endswith("\U0001F600") and rows[2]["decision"] == "Allow"
    assert rows[3]["error"] == "not UTF-8 text: byte 0xff at column 86"


def _big_product(tmp_path):
    """A requests file of one product line, 400,000 requests: 20 blocks."""
    src = tmp_path / "requests.jsonl"
    src.write_text(json.dumps({"principal": ["alice", "bob"] * 10, "action": ["s3:GetObject", "s3:PutObject"] * 10,
                               "resource": [f"arn:aws:s3:::reports-a/k{i}" for i in range(1000)]}) + "\n",
                   encoding="utf-8")
    return src


_RUN = ("import signal, sys\n"
        "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"  # as many programs that embed a CLI do
        "from iamlogic.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_a_closed_pipe_ends_the_run_whichever_process_writes(tmp_path, errors):
    """`iamlogic batch --jobs 2 … | head -1` in a program that keeps SIGPIPE's default action: the
    run ends at once, whether the workers write standard output (UTF-8 text with strict errors) or
    the parent does (here: surrogateescape), and no process of it is left behind."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONIOENCODING=f"utf-8:{errors}")
    run = subprocess.Popen([sys.executable, "-c", _RUN, "batch", WORLD, str(_big_product(tmp_path)), "--jobs", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert run.stdout.readline().startswith(b'{"line": 1, ')
        run.stdout.close()
        run.wait(timeout=120)  # (exit status 0: the CLI ends quietly on a closed pipe, as a filter does)
        assert _gone(run.pid)
    finally:
        _end(run.pid)


def _gone(group: int, wait: float = 30.0) -> bool:
    """Whether every process of the process group ends within ``wait`` seconds."""
    import os
    import time

    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _end(group: int) -> None:
    import os

    try:
        os.killpg(group, 9)
    except ProcessLookupError:
        pass


def test_the_workers_end_with_the_parent(tmp_path):
    """The parent of a run killed alone (as `timeout` does): its workers end too, and the output
    file stops growing."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "answers.jsonl"
    run = subprocess.Popen([sys.executable, "-m", "iamlogic", "batch", WORLD, str(_big_product(tmp_path)),
                            "--jobs", "2", "-o", str(out)], start_new_session=True)
    try:
        end = time.monotonic() + 120
        while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < end and run.poll() is None:
            time.sleep(0.01)
        assert run.poll() is None, "the run ended before it could be stopped"
        os.kill(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
        assert _gone(run.pid)
        size = out.stat().st_size
        time.sleep(1)
        assert out.stat().st_size == size < 400_000 * 200
    finally:
        _end(run.pid)


def _killed_in_a_block(monkeypatch, after: float = 0.0):
    """Make a worker die as the kernel's OOM killer ends a process: the worker of the third block,
    at once; with ``after``, the worker of the first block, ``after`` seconds into it (the second
    block is decided meanwhile, and its worker waits for its turn to write)."""
    import os
    import signal
    import time

    import iamlogic.batch as batch

    decide = batch.decide_block
    monkeypatch.setattr(batch, "BLOCK", 5)
    third = [start for start, _ in batch._blocks(_odd_lines())][2]

    def dying(world, block):
        if block[0] == 1 if after else block[0] >= third:
            time.sleep(after)
            os.kill(os.getpid(), signal.SIGKILL)
        return decide(world, block)

    monkeypatch.setattr(batch, "decide_block", dying)


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("after", [0.0, 2.0])
def test_a_worker_killed_outright_ends_the_run_with_an_error(monkeypatch, tmp_path, deadline, direct, after):
    """A worker process killed in its block (SIGKILL, the OOM killer) ends the run with an error,
    whichever process writes the answers, and whether or not another worker is waiting for its
    turn to write (after 2 s, the next block is decided and waits); the run does not wait for the
    lost block for ever."""
    from concurrent.futures.process import BrokenProcessPool

    _killed_in_a_block(monkeypatch, after)
    with (tmp_path / "answers.jsonl").open("w", encoding="utf-8") as out, pytest.raises(BrokenProcessPool):
        run_batch(load([WORLD]), _odd_lines(), out, jobs=2, direct=direct)


def test_cli_batch_says_that_a_worker_was_killed(monkeypatch, tmp_path, deadline, capsys):
    from iamlogic.cli import main

    _killed_in_a_block(monkeypatch)
    src = tmp_path / "requests.jsonl"
    src.write_text("\n".join(_odd_lines()) + "\n", encoding="utf-8")
    assert main(["batch", WORLD, str(src), "--jobs", "2", "-o", str(tmp_path / "answers.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "a worker process ended abruptly" in err and "incomplete" in err


@pytest.mark.parametrize("output", ["file", "stream"])
def test_a_line_that_is_not_utf8_is_an_error_of_its_line(monkeypatch, tmp_path, deadline, capsys, output):
    """A byte that is not UTF-8 in the middle of a long requests file (here: decided by two
    processes) makes its line an error answer that says where the byte is; every other line is
    answered (exit 3)."""
    import iamlogic.batch as batch

    monkeypatch.setattr(batch, "BLOCK", 20)
    lines = _odd_lines() * 10  # more than the 8 KiB that a text file decodes at a time
    src = tmp_path / "requests.jsonl"
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'  {"principal": "al\xffice"}\n'
                    + ("\n".join(lines) + "\n").encode())
    one = io.StringIO()
    run_batch(load([WORLD]), lines + ['{"principal": "alice"}'] + lines, one)
    expected = one.getvalue().splitlines()
    bad = len(lines) + 1
    at = next(i for i, row in enumerate(expected) if json.loads(row)["line"] == bad)
    expected[at] = json.dumps({"line": bad, "error": "not UTF-8 text: byte 0xff at column 20"})
    out = tmp_path / "answers.jsonl"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(open(src, "rb"), encoding="latin-1"))  # (it reads the bytes)
    args = ["batch", WORLD, str(src) if output == "file" else "-", "--jobs", "2"]
    assert main(args + (["-o", str(out)] if output == "file" else [])) == 3
    captured = capsys.readouterr()
    written = out.read_text(encoding="utf-8") if output == "file" else captured.out
    assert written.splitlines() == expected


@pytest.mark.parametrize("stdin", ["bytes", "text"])
def test_batch_reads_standard_input_and_leaves_it_open(monkeypatch, capsys, stdin):
    """`-` reads standard input (through its bytes, as UTF-8, when it has them; a text stream
    without bytes, as an embedding program may set, as it is), and leaves it open."""
    text = "\n".join(_lines(GOOD)) + "\n"
    source = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="latin-1") if stdin == "bytes" else io.StringIO(text)
    monkeypatch.setattr("sys.stdin", source)
    assert main(["batch", WORLD, "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(GOOD)
    assert not source.closed


@pytest.mark.parametrize("direct", [True, False])
def test_answers_stream_out_while_the_input_is_still_coming(monkeypatch, tmp_path, deadline, direct):
    """With --jobs, the answers of the blocks read so far are written while the next lines are
    awaited (a slow producer on standard input), whichever process writes them."""
    import time

    import iamlogic.batch as batch

    monkeypatch.setattr(batch, "BLOCK", 5)
    path = tmp_path / "answers.jsonl"
    lines = _lines(GOOD * 12)  # one request a line: three blocks, then a pause, then more

    def slow():
        yield from lines[:16]
        end = time.monotonic() + 60
        while time.monotonic() < end and not path.read_text(encoding="utf-8"):
            time.sleep(0.05)
        assert path.read_text(encoding="utf-8"), "no answer written while the input waits"
        yield from lines[16:]

    one = io.StringIO()
    run_batch(load([WORLD]), lines, one)
    with path.open("w", encoding="utf-8") as out:
        if not direct:  # written by the parent: in the file as soon as written
            out = io.TextIOWrapper(out.buffer, encoding="utf-8", write_through=True)
        run_batch(load([WORLD]), slow(), out, jobs=2, direct=direct)
        out.flush()
    assert path.read_text(encoding="utf-8") == one.getvalue()


def test_a_failed_run_stops_its_workers_at_once(monkeypatch, deadline):
    """When the run fails in the parent (here the output fails, as a closed pipe does; Ctrl-C is
    the same), the workers are ended, not left to finish the blocks they are deciding."""
    import time

    import iamlogic.batch as batch

    decide = batch.decide_block

    def slow(world, block):
        if block[0] > 5:
            time.sleep(30)
        return decide(world, block)

    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError("the reader has gone")

    monkeypatch.setattr(batch, "BLOCK", 5)
    monkeypatch.setattr(batch, "decide_block", slow)
    start = time.monotonic()
    with pytest.raises(BrokenPipeError):
        run_batch(load([WORLD]), _lines(GOOD * 10), Closed(), jobs=2)
    assert time.monotonic() - start < 15


def test_when_reading_the_input_fails_the_blocks_read_before_are_answered_first(monkeypatch, deadline):
    """A library caller's lines that fail while read (a strict text stream meeting a byte that is
    not UTF-8, say): with --jobs as with one process, the answers of the blocks read before the
    failure are written, in order, then the error is raised."""
    import iamlogic.batch as batch

    monkeypatch.setattr(batch, "BLOCK", 5)

    def failing():
        yield from _lines(GOOD * 10)
        raise ValueError("cannot read the input")

    outs = []
    for jobs in (1, 2):
        out = io.StringIO()
        with pytest.raises(ValueError, match="cannot read"):
            run_batch(load([WORLD]), failing(), out, jobs=jobs)
        outs.append(out.getvalue())
    assert outs[0] == outs[1] and outs[0].count("\n") >= 20
