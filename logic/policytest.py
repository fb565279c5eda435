"""``iamlogic test``: policy tests kept next to the policies, like ``opa test`` or ``cedar run-tests``.

A test file is YAML in the format of the project's own scenario corpus (``tests/scenarios/``):

.. code-block:: yaml

    title: Payroll bucket                      # optional
    source: https://docs.aws.amazon.com/...    # optional, informative
    notes: free text                           # optional
    world_files: [world.iaml]                  # the world: files relative to this file, or
    # world: |                                 #   the text of an .iaml world, or
    #   account 111111111111 "a" { ... }
    # worlds:                                  #   several named worlds (text, or a list of files);
    #   before: [old.iaml]                     #   each request then says `world: NAME`
    #   after: |
    #     account ...
    requests:
      - name: an org member reads payroll      # unique in the file (default: "request N")
        principal: arn:aws:iam::222222222222:user/alice
        action: s3:GetObject
        resource: arn:aws:s3:::payroll/2026/q3.csv
        context: {aws:SecureTransport: "true"} # optional: condition keys the world cannot supply
        session_policy: "{ allow s3:* on * }"  # optional: compact syntax or JSON text
        session_issuer: arn:aws:iam::...:user/x  # optional: for a federated-user principal
        expect: Allow                          # Allow | ExplicitDeny | ImplicitDeny
        deciding: [OrgRead]                    # optional: Sids or policy names among the deciding statements
        source: https://...                    # optional, informative
        notes: free text                       # optional

A file without ``world``, ``world_files`` or ``worlds`` uses the ``world.iaml`` next to it (the
convention of ``examples/*/expected.yaml``). World text in the file is read as if it were written
at its place in the YAML file: its errors and the statements a decision cites carry the YAML
file's line and column; ``import`` and ``file "…"`` references are read relative to the test file.

:func:`run_tests` runs files (a folder stands for every ``.yaml``/``.yml`` file under it whose top
level has a ``requests`` key) and returns a :class:`TestReport`: its text, its JUnit XML, and the
exit code of ``iamlogic test`` (0 every request passed, 1 a request failed, 3 invalid input).

Diagnostic codes of this module and of :mod:`iamlogic.verify` (:data:`CODES`) are ``E7xx``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from .decision import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Decision
from .grammar.diagnostics import Diagnostic, InvalidInput, Span, did_you_mean, read_text

__all__ = ["CODES", "CaseResult", "FileResult", "TestReport", "run_tests", "load_test_file", "TestFile",
           "TestRequest", "MissingDependency"]

#: Diagnostic codes of ``iamlogic test`` and ``iamlogic verify``.
CODES: dict[str, str] = {
    "E701": "YAML syntax error",
    "E702": "unknown key",
    "E703": "missing required key",
    "E704": "value of the wrong type",
    "E705": "invalid value",
    "E706": "no world for a test file, or a world file that cannot be read",
    "E707": "action pattern that matches no action of the AWS catalog",
    "E708": "nothing to run: no test files, or no invariants",
    "E709": "name used twice",
}

DECISIONS = (ALLOW, EXPLICIT_DENY, IMPLICIT_DENY)
FILE_KEYS = ("title", "source", "notes", "world", "world_files", "worlds", "requests")
REQUEST_KEYS = ("name", "world", "principal", "action", "resource", "context", "session_policy",
                "session_issuer", "expect", "deciding", "source", "notes")

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 3


class MissingDependency(Exception):
    """PyYAML or hypothesis is not installed (``pip install 'iamlogic[test]'``)."""


def _yaml():
    try:
        import yaml
    except ImportError:  # pragma: no cover - the test extra installs it
        raise MissingDependency("reading test and invariant files needs PyYAML: "
                                "pip install 'iamlogic[test]'") from None
    return yaml


# ---------------------------------------------------------------------------------------------
# YAML with positions


class YMap(dict):
    """A YAML mapping that remembers where it, each key and each value node start."""

    mark: Any = None

    def __init__(self):
        super().__init__()
        self.key_marks: dict[Any, Any] = {}
        self.value_nodes: dict[Any, Any] = {}


class YList(list):
    """A YAML sequence that remembers where each item starts."""

    mark: Any = None

    def __init__(self):
        super().__init__()
        self.item_marks: list[Any] = []


class YamlDoc:
    """A parsed YAML file: its data with positions, its path and its text (for rendering)."""

    def __init__(self, path: str, text: str, data: Any):
        self.path, self.text, self.data = path, text, data

    def span(self, mark) -> Span:
        return Span(self.path, mark.line + 1, mark.column + 1) if mark is not None else Span(self.path, 1, 1)

    def diag(self, code: str, message: str, mark=None, help: str | None = None) -> Diagnostic:
        return Diagnostic(code, message, self.span(mark), help)


def _loader_class():
    yaml = _yaml()

    class Loader(yaml.SafeLoader):
        pass

    # YAML 1.2 booleans: `on`, `off`, `yes` and `no` stay strings (`on:` is a key of invariants).
    import re

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))

    def construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        m = YMap()
        m.mark = node.start_mark
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        knode.start_mark) from None
            if key in m:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", knode.start_mark)
            m[key] = loader.construct_object(vnode, deep=True)
            m.key_marks[key] = knode.start_mark
            m.value_nodes[key] = vnode
        return m

    def construct_sequence(loader, node, deep=False):
        seq = YList()
        seq.mark = node.start_mark
        for child in node.value:
            seq.append(loader.construct_object(child, deep=True))
            seq.item_marks.append(child.start_mark)
        return seq

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


def read_yaml(path: str) -> YamlDoc:
    """Read a YAML file keeping positions. Raises InvalidInput (E701, E706) when it cannot be read."""
    yaml = _yaml()
    text = read_text(path, "E706")
    try:
        data = yaml.load(text, Loader=_loader_class())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        span = Span(path, mark.line + 1, mark.column + 1) if mark is not None else Span(path, 1, 1)
        raise InvalidInput([Diagnostic("E701", f"YAML: {problem}", span)], {path: text}) from None
    return YamlDoc(path, text, data)


def check_keys(doc: YamlDoc, m: YMap, allowed: Sequence[str], what: str, diags: list[Diagnostic]) -> None:
    """E702 for each key of ``m`` that ``allowed`` does not list."""
    for key in m:
        if key not in allowed:
            diags.append(doc.diag("E702", f"unknown key {key!r} in {what}", m.key_marks.get(key),
                                  help=did_you_mean(str(key), allowed) or f"known keys: {', '.join(allowed)}"))


def mark_of(m: Any, key: Any = None):
    """The position of ``m[key]`` (or of ``m``) in its YAML file, when known."""
    if key is not None and isinstance(m, YMap) and key in m.value_nodes:
        return m.value_nodes[key].start_mark
    if isinstance(m, YList) and isinstance(key, int) and key < len(m.item_marks):
        return m.item_marks[key]
    return getattr(m, "mark", None)


def string_list(doc: YamlDoc, m: YMap, key: str, diags: list[Diagnostic], *, required: bool = False) -> tuple[str, ...]:
    """``m[key]`` as a tuple of strings: a string or a list of strings (numbers are read as text)."""
    if key not in m:
        if required:
            diags.append(doc.diag("E703", f"missing key {key!r}", m.mark))
        return ()
    value = m[key]
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)) or item == "":
            diags.append(doc.diag("E704", f"{key!r} takes a string or a list of strings, not {item!r}", mark_of(m, key)))
            return ()
        out.append(str(item))
    if required and not out:
        diags.append(doc.diag("E705", f"{key!r} is empty", mark_of(m, key)))
    return tuple(out)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def read_context(doc: YamlDoc, m: YMap, key: str, diags: list[Diagnostic]) -> dict[str, Any]:
    """A request context: keys to strings, or to lists of strings (a multivalued key)."""
    value = m.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        diags.append(doc.diag("E704", f"{key!r} must be a mapping of condition keys to values", mark_of(m, key)))
        return {}
    out: dict[str, Any] = {}
    for k, v in value.items():
        where = value.key_marks.get(k) if isinstance(value, YMap) else None
        if isinstance(v, list):
            items = [_scalar(x) for x in v]
            if any(x is None for x in items):
                diags.append(doc.diag("E704", f"the values of {k!r} must be strings, numbers or booleans", where))
                continue
            out[str(k)] = items
        else:
            s = _scalar(v)
            if s is None:
                diags.append(doc.diag("E704", f"the value of {k!r} must be a string, a number, a boolean or a list of them", where))
                continue
            out[str(k)] = s
    return out


# ---------------------------------------------------------------------------------------------
# Worlds given in a test file


def _padded(doc: YamlDoc, node, text: str) -> str | None:
    """``text`` laid out as it stands in the YAML file (blank lines and indentation restored), so
    that positions in it are positions in the file; None when the scalar's layout is not simple."""
    lines = doc.text.split("\n")
    start = node.start_mark
    if node.style == "|":
        content = text.split("\n")
        if content and content[-1] == "":
            content.pop()  # the newline that ends the block
        first = start.line + 1
        if first + len([c for c in content if c]) > len(lines) + 1:
            return None
        indent = None
        for i, c in enumerate(content):
            if c:
                raw = lines[first + i] if first + i < len(lines) else ""
                indent = len(raw) - len(raw.lstrip(" "))
                break
        if indent is None:
            return None
        for i, c in enumerate(content):
            raw = lines[first + i] if first + i < len(lines) else ""
            if (c and raw != " " * indent + c) or (not c and raw.strip()):
                return None
        return "\n" * first + "\n".join((" " * indent + c) if c else "" for c in content) + "\n"
    if node.style in (None, "", '"', "'") and "\n" not in text:
        col = start.column + (1 if node.style in ('"', "'") else 0)
        raw = lines[start.line] if start.line < len(lines) else ""
        if raw[col:col + len(text)] != text:
            return None
        return "\n" * start.line + " " * col + text
    return None


def world_from_text(doc: YamlDoc, node, text: str, label: str):
    """A :class:`~iamlogic.World` from world text written in a YAML file. Raises InvalidInput."""
    from .grammar.ast import WorldModel
    from .grammar.world import load_world_files, merge_models, parse_world
    from .world import World, check_world

    padded = _padded(doc, node, text) if node is not None else None
    name = doc.path if padded is not None else f"{doc.path}:{label}"
    sources: dict[str, str] = {}
    base = os.path.dirname(doc.path) or "."
    wf, diags = parse_world(padded if padded is not None else text, name, base_dir=base, sources=sources)
    if padded is not None:
        sources[name] = doc.text
    model = WorldModel()
    if wf is not None:
        parts = [wf.as_model()]
        if wf.imports:
            imported, idiags = load_world_files([os.path.normpath(os.path.join(base, i.path)) for i in wf.imports],
                                                sources)
            diags.extend(idiags)
            parts.append(imported)
        model = merge_models(parts)
    if not diags.has_errors():
        diags.extend(check_world(model))
    if diags.has_errors():
        raise InvalidInput(diags.sorted(), sources)
    return World(model, sources=sources, warnings=diags.warnings)


def world_from_files(doc: YamlDoc, files: Sequence[str]):
    """A world from ``.iaml`` files named relative to the YAML file. Raises InvalidInput."""
    from .world import load

    base = os.path.dirname(doc.path)
    return load([os.path.normpath(os.path.join(base, f)) for f in files])


# ---------------------------------------------------------------------------------------------
# Test files


@dataclass
class TestRequest:
    """One request of a test file, with the decision it expects."""

    __test__ = False  # not a pytest test class

    name: str
    line: int
    principal: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    session_policy: str | None = None
    session_issuer: str | None = None
    expect: str = IMPLICIT_DENY
    deciding: tuple[str, ...] = ()
    world: str | None = None
    col: int = 1


@dataclass
class TestFile:
    """A parsed test file: its worlds (by name; ``None`` for the only one) and its requests."""

    __test__ = False

    path: str
    title: str | None
    worlds: dict[str | None, Any]
    requests: list[TestRequest]
    doc: YamlDoc | None = None


def load_test_file(path: str, *, world_cache: dict | None = None) -> TestFile:
    """Read and check a test file and load its worlds.

    Raises:
        InvalidInput: with every problem found (bad YAML, unknown or missing keys, wrong values,
            world errors), each with the file, line and column.
    """
    doc = read_yaml(path)
    data = doc.data
    diags: list[Diagnostic] = []
    if not isinstance(data, YMap):
        raise InvalidInput([doc.diag("E704", "a test file is a mapping with a 'requests' list", getattr(data, "mark", None))],
                           {path: doc.text})
    check_keys(doc, data, FILE_KEYS, "a test file", diags)
    given = [k for k in ("world", "world_files", "worlds") if k in data]
    if len(given) > 1:
        diags.append(doc.diag("E705", f"give one of world, world_files and worlds, not {' and '.join(given)}",
                              data.key_marks[given[1]]))
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        diags.append(doc.diag("E704", "'title' must be a string", mark_of(data, "title")))
    requests = _requests(doc, data, diags)
    world_names = set()
    if "worlds" in data:
        if not isinstance(data["worlds"], dict) or not data["worlds"]:
            diags.append(doc.diag("E704", "'worlds' maps world names to world text or lists of files",
                                  mark_of(data, "worlds")))
        else:
            world_names = set(data["worlds"])
    for r in requests:
        if world_names and r.world not in world_names:
            diags.append(Diagnostic("E705" if r.world is not None else "E703",
                                    f"request {r.name!r} must name one of the worlds with 'world:'"
                                    + (f" ({r.world!r} is not one)" if r.world is not None else ""),
                                    Span(path, r.line, 1), did_you_mean(str(r.world), [str(w) for w in world_names])
                                    if r.world is not None else None))
        elif not world_names and r.world is not None:
            diags.append(Diagnostic("E705", f"request {r.name!r} names world {r.world!r} but the file has no 'worlds'",
                                    Span(path, r.line, 1)))
    if diags:
        raise InvalidInput(diags, {path: doc.text})
    worlds = _load_worlds(doc, data, world_cache if world_cache is not None else {})
    return TestFile(path, title, worlds, requests, doc)


def _requests(doc: YamlDoc, data: YMap, diags: list[Diagnostic]) -> list[TestRequest]:
    reqs = data.get("requests")
    if not isinstance(reqs, list) or not reqs:
        diags.append(doc.diag("E703" if reqs is None else "E704", "a test file needs a non-empty 'requests' list",
                              mark_of(data, "requests") if "requests" in data else data.mark))
        return []
    out, names = [], {}
    for i, r in enumerate(reqs):
        mark = mark_of(reqs, i)
        if not isinstance(r, YMap):
            diags.append(doc.diag("E704", "a request is a mapping (principal, action, resource, expect, …)", mark))
            continue
        n = len(diags)
        check_keys(doc, r, REQUEST_KEYS, "a request", diags)
        fields: dict[str, str] = {}
        for key in ("principal", "action", "resource", "expect"):
            if key not in r:
                diags.append(doc.diag("E703", f"request is missing {key!r}", r.mark))
                continue
            value = _scalar(r[key]) if key in ("principal", "resource") and not isinstance(r[key], bool) else r[key]
            if not isinstance(value, str) or not value:
                diags.append(doc.diag("E704", f"{key!r} must be a non-empty string", mark_of(r, key)))
                continue
            fields[key] = value
        name = r.get("name", f"request {i + 1}")
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            diags.append(doc.diag("E704", "'name' must be a string", mark_of(r, "name")))
            name = f"request {i + 1}"
        name = str(name)
        if name in names:
            diags.append(doc.diag("E709", f"request name {name!r} is used twice (first on line {names[name]})",
                                  mark_of(r, "name")))
        names.setdefault(name, mark.line + 1)
        expect = fields.get("expect")
        if expect is not None and expect not in DECISIONS:
            diags.append(doc.diag("E705", f"expect {expect!r} is not a decision", mark_of(r, "expect"),
                                  help=did_you_mean(expect, DECISIONS) or "Allow, ExplicitDeny or ImplicitDeny"))
        deciding = string_list(doc, r, "deciding", diags)
        if deciding and expect == IMPLICIT_DENY:
            diags.append(doc.diag("E705", "an implicit deny has no deciding statement: drop 'deciding'",
                                  mark_of(r, "deciding")))
        context = read_context(doc, r, "context", diags)
        extra: dict[str, str | None] = {}
        for key in ("session_policy", "session_issuer", "world"):
            v = r.get(key)
            if v is not None and not isinstance(v, str):
                diags.append(doc.diag("E704", f"{key!r} must be a string", mark_of(r, key)))
                v = None
            extra[key] = v
        if len(diags) == n:
            out.append(TestRequest(name, mark.line + 1, fields["principal"], fields["action"], fields["resource"],
                                   context, extra["session_policy"], extra["session_issuer"], expect, deciding,
                                   extra["world"], mark.column + 1))
    return out


def _load_worlds(doc: YamlDoc, data: YMap, cache: dict) -> dict[str | None, Any]:
    problems: list[Diagnostic] = []
    sources: dict[str, str] = {doc.path: doc.text}

    def one(value, node, label: str):
        try:
            if isinstance(value, str):
                return world_from_text(doc, node, value, label)
            if isinstance(value, list) and value and all(isinstance(f, str) for f in value):
                key = tuple(os.path.realpath(os.path.join(os.path.dirname(doc.path), f)) for f in value)
                if key not in cache:
                    cache[key] = world_from_files(doc, value)
                return cache[key]
            problems.append(doc.diag("E704", f"world {label!r} is world text or a list of .iaml files",
                                     node.start_mark if node is not None else None))
        except InvalidInput as exc:
            problems.extend(exc.diagnostics)
            sources.update(exc.sources)
        return None

    worlds: dict[str | None, Any] = {}
    if "world" in data:
        worlds[None] = one(data["world"], data.value_nodes["world"], "world")
    elif "world_files" in data:
        files = data["world_files"]
        worlds[None] = one(files if isinstance(files, list) else [files], data.value_nodes["world_files"], "world_files")
    elif "worlds" in data:
        for name, value in data["worlds"].items():
            worlds[name] = one(value, data["worlds"].value_nodes.get(name), str(name))
    else:
        sibling = os.path.join(os.path.dirname(doc.path), "world.iaml")
        if os.path.exists(sibling):
            worlds[None] = one(["world.iaml"], None, "world.iaml")
        else:
            problems.append(doc.diag("E706", "the file gives no world: add 'world', 'world_files' or 'worlds' "
                                             "(or put a world.iaml next to it)", data.mark))
    if problems:
        raise InvalidInput(problems, sources)
    return worlds


def _session_policy(text: str | None):
    """A session policy written in the compact syntax (``{ allow s3:* on * }``) or as JSON text."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith("{") and '"Statement"' not in stripped:
        from .world import loads

        return loads(f"aws policy Session {stripped}", "<session policy>").model.aws_policies[0].document
    return stripped


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class CaseResult:
    """The outcome of one request of a test file."""

    file: str
    name: str
    line: int
    expected: str
    got: str | None = None  # None when the request could not be evaluated
    status: str = "passed"  # passed | failed | error
    message: str = ""
    explanation: str = ""
    seconds: float = 0.0
    decision: Decision | None = None
    warnings: list[str] = field(default_factory=list)  # typos the decision warns of (see TYPO_WARNINGS)


#: The decision warnings a test shows even when it passes: an action or a context key the AWS
#: catalog does not know is most likely a typo, and a test that passes through one proves nothing.
TYPO_WARNINGS = ("unknown action", "unknown context key")


@dataclass
class FileResult:
    """The outcome of one test file: its cases, or the errors that kept it from running."""

    path: str
    title: str | None = None
    cases: list[CaseResult] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for c in self.cases if c.status == status)

    @property
    def invalid(self) -> bool:
        return bool(self.errors) or any(c.status == "error" for c in self.cases)

    def render_errors(self) -> str:
        from .grammar.diagnostics import Diagnostics

        return Diagnostics(self.errors).render(self.sources)


@dataclass
class TestReport:
    """The result of :func:`run_tests`: one :class:`FileResult` per file."""

    __test__ = False

    files: list[FileResult] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # errors that belong to no file

    def count(self, status: str) -> int:
        return sum(f.count(status) for f in self.files)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def invalid(self) -> int:
        """Files that could not run, plus requests that could not be evaluated."""
        return sum(1 if f.errors else f.count("error") for f in self.files) + len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.invalid

    @property
    def exit_code(self) -> int:
        """0 every request passed, 3 invalid input somewhere, else 1 (a request failed)."""
        if self.invalid:
            return EXIT_INVALID
        return EXIT_FAILURE if self.failed else EXIT_OK

    def render(self) -> str:
        """The text report: a line per file, then each failure with its explanation."""
        out: list[str] = []
        for d in self.errors:
            out.append(d.render())
        for f in self.files:
            if f.errors:
                out.append(f"{f.path}: invalid ({len(f.errors)} error(s))")
                out += ["  " + line for line in f.render_errors().split("\n")]
                continue
            line = f"{f.path}: {f.count('passed')} passed, {f.count('failed')} failed"
            if f.count("error"):
                line += f", {f.count('error')} error(s)"
            out.append(line)
            for c in f.cases:
                out += [f"  WARN {c.name!r} ({f.path}:{c.line}): {w}" for w in c.warnings]
                if c.status == "passed":
                    continue
                label = "FAIL" if c.status == "failed" else "ERROR"
                out.append(f"  {label} {c.name!r} ({f.path}:{c.line}): {c.message}")
                if c.explanation:
                    out += ["    " + x for x in c.explanation.split("\n")]
        out.append(f"{len(self.files)} file(s): {self.passed} passed, {self.failed} failed, "
                   f"{self.invalid} invalid")
        return "\n".join(out)

    def to_junit_xml(self) -> str:
        """JUnit XML: a testsuite per file, a testcase per request, ``failure`` with the explanation."""
        import xml.etree.ElementTree as ET

        root = ET.Element("testsuites", name="iamlogic test", tests=str(sum(max(len(f.cases), 1 if f.errors else 0)
                                                                         for f in self.files)),
                          failures=str(self.failed), errors=str(self.invalid))
        total = 0.0
        for f in self.files:
            total += f.seconds
            suite = ET.SubElement(root, "testsuite", name=f.path, tests=str(len(f.cases) or (1 if f.errors else 0)),
                                  failures=str(f.count("failed")),
                                  errors=str(1 if f.errors else f.count("error")), skipped="0",
                                  time=f"{f.seconds:.3f}")
            classname = ".".join(part for part in os.path.normpath(os.path.splitext(f.path)[0]).split(os.sep)
                                 if part not in ("", ".", ".."))
            if f.errors:
                case = ET.SubElement(suite, "testcase", classname=classname, name="(file)", time="0.000")
                err = ET.SubElement(case, "error", message=_xml_text(f.errors[0].message), type="InvalidInput")
                err.text = _xml_text(f.render_errors())
                continue
            for c in f.cases:
                case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(c.name),
                                     file=f.path, line=str(c.line), time=f"{c.seconds:.3f}")
                if c.status == "failed":
                    el = ET.SubElement(case, "failure", message=_xml_text(c.message), type="DecisionMismatch")
                    el.text = _xml_text(c.explanation)
                elif c.status == "error":
                    el = ET.SubElement(case, "error", message=_xml_text(c.message), type="InvalidInput")
                    el.text = _xml_text(c.explanation)
                if c.warnings:
                    ET.SubElement(case, "system-err").text = _xml_text("\n".join(f"warning: {w}" for w in c.warnings))
        root.set("time", f"{total:.3f}")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _xml_text(text: str) -> str:
    """Text without the characters XML 1.0 cannot hold."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")


def find_test_files(paths: Iterable[str]) -> tuple[list[str], list[Diagnostic]]:
    """Files named, and the test files under folders named: ``.yaml``/``.yml`` files whose top
    level has a ``requests`` key (others, such as an invariants file, are skipped)."""
    out: list[str] = []
    errors: list[Diagnostic] = []
    for p in paths:
        if os.path.isdir(p):
            for folder, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith((".yaml", ".yml")):
                        full = os.path.join(folder, name)
                        if _looks_like_test_file(full):
                            out.append(full)
        elif os.path.exists(p):
            out.append(p)
        else:
            errors.append(Diagnostic("E706", f"no such file or folder: '{p}'", Span(p, 0, 0)))
    seen: set[str] = set()  # a file named twice (or through two paths) runs once
    return [f for f in out if not (os.path.realpath(f) in seen or seen.add(os.path.realpath(f)))], errors


def _looks_like_test_file(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return True  # reported when read
    yaml = _yaml()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return True  # reported when read
    return isinstance(data, dict) and "requests" in data


def run_tests(paths: Iterable[str] | str) -> TestReport:
    """Run policy test files (see the module docstring for the format).

    Args:
        paths: test files, or folders holding them.

    Returns:
        A :class:`TestReport`; its ``exit_code`` is what ``iamlogic test`` exits with.
    """
    if isinstance(paths, str):
        paths = [paths]
    files, errors = find_test_files(list(paths))
    report = TestReport(errors=errors)
    if not files and not errors:
        report.errors.append(Diagnostic("E708", "no test files found (a test file is a .yaml file with 'requests')"))
    cache: dict = {}
    for path in files:
        report.files.append(run_test_file(path, world_cache=cache))
    return report


def run_test_file(path: str, *, world_cache: dict | None = None) -> FileResult:
    """Run one test file."""
    start = time.perf_counter()
    result = FileResult(path)
    try:
        tf = load_test_file(path, world_cache=world_cache)
    except InvalidInput as exc:
        result.errors = list(exc.diagnostics)
        result.sources = exc.sources
        result.seconds = time.perf_counter() - start
        return result
    result.title = tf.title
    for req in tf.requests:
        result.cases.append(run_request(tf, req))
    result.seconds = time.perf_counter() - start
    return result


def run_request(tf: TestFile, req: TestRequest) -> CaseResult:
    """Decide one request of a test file and compare it with what it expects."""
    start = time.perf_counter()
    case = CaseResult(tf.path, req.name, req.line, req.expect)
    world = tf.worlds[req.world]
    try:
        d = world.check(req.principal, req.action, req.resource, req.context,
                        session_policy=_session_policy(req.session_policy), federating_user=req.session_issuer)
    except InvalidInput as exc:
        case.status = "error"
        case.message = "the request cannot be evaluated"
        here = Span(tf.path, req.line, req.col)
        case.explanation = "\n".join(
            (replace(d, span=here) if d.span is None else d).render(exc.sources or (tf.doc and {tf.path: tf.doc.text}))
            for d in exc.diagnostics)
        case.seconds = time.perf_counter() - start
        return case
    case.decision, case.got = d, d.decision
    case.warnings = [w for w in d.warnings if w.startswith(TYPO_WARNINGS)]
    if d.decision != req.expect:
        case.status = "failed"
        case.message = f"expected {req.expect}, got {d.decision}"
    else:
        names = {s.sid for s in d.statements} | {s.policy_name for s in d.statements}
        missing = [w for w in req.deciding if w not in names]
        if missing:
            case.status = "failed"
            found = sorted(n for n in names if n)
            case.message = (f"{req.expect} as expected, but {', '.join(map(repr, missing))} "
                            f"{'is' if len(missing) == 1 else 'are'} not among the deciding statements "
                            f"({', '.join(found) or 'none'})")
    if case.status == "failed":
        case.explanation = d.explain("blockers")
    case.seconds = time.perf_counter() - start
    return case


# ---------------------------------------------------------------------------------------------
# The command


def add_test_command(sub) -> None:
    t = sub.add_parser("test", help="run policy tests: YAML files of requests with expected decisions "
                                    "(exit 0 all pass, 1 a failure, 3 invalid input)")
    t.add_argument("paths", nargs="+", metavar="PATH",
                   help="test files, or folders (every .yaml/.yml file with a 'requests' key under them)")
    t.add_argument("--junit-xml", metavar="PATH", help="also write the results as JUnit XML to PATH")
    t.set_defaults(run=cmd_test)


def cmd_test(args) -> int:
    import sys

    try:
        report = run_tests(args.paths)
    except MissingDependency as exc:
        print(f"iamlogic: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(report.render())
    if args.junit_xml:
        try:
            with open(args.junit_xml, "w", encoding="utf-8") as fh:
                fh.write(report.to_junit_xml())
        except OSError as exc:
            print(f"iamlogic: cannot write '{args.junit_xml}': {exc.strerror}", file=sys.stderr)
            return EXIT_FAILURE
    return report.exit_code
