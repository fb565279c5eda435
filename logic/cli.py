"""The ``iamlogic`` command.

Exit codes: 0 success (or allowed), 2 denied, 3 invalid input, 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from .grammar.ast import POLICY_KINDS
from .grammar.diagnostics import Diagnostic, Diagnostics, InvalidInput, did_you_mean
from .grammar.gaad import authorization_details_model, is_authorization_details
from .grammar.json_policy import parse_json, policy_from_value
from .validate import validate_policy

EXIT_OK, EXIT_FAILURE, EXIT_DENIED, EXIT_INVALID = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a program that Ctrl-C ended


def _expand(paths: Sequence[str]) -> list[str]:
    """Files named, and the ``.iaml``/``.json``/``.dl`` files of folders named (recursively, sorted)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for folder, _dirs, files in sorted(os.walk(p)):
                out += [os.path.join(folder, f) for f in sorted(files) if f.endswith((".iaml", ".json", ".dl"))]
        else:
            out.append(p)
    return out


def positionals_anywhere(parser):
    """Let ``parser`` take its options anywhere among its positional words (``batch W -j 2 R``):
    argparse stops a list of positional words at the first option. Every word that is not an
    option of the parser or its value (an option that takes a value takes one) goes after them."""
    original = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        options: list[str] = []
        words: list[str] = []
        i = 0
        while i < len(args):
            word = args[i]
            action = parser._option_string_actions.get(word.split("=", 1)[0]) if word.startswith("-") else None
            if word == "--":
                words += args[i:]
                break
            if action is None:
                words.append(word)
            else:
                options.append(word)
                if "=" not in word and action.nargs is None and action.const is None and i + 1 < len(args):
                    options.append(args[i + 1])  # its value
                    i += 1
            i += 1
        return original(options + words, namespace)

    parser.parse_known_args = parse_known_args
    return parser


def kind_of(path: str, default: str) -> str:
    """The policy kind a file name declares (``deny-regions.scp.json`` → ``scp``), else ``default``."""
    parts = os.path.basename(path).split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in POLICY_KINDS else default


def _validate_file(path: str, kind: str) -> tuple[list[Diagnostic], dict[str, str]]:
    from .world import load

    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            return [Diagnostic("E320", f"cannot read '{path}': {getattr(exc, 'strerror', None) or exc}")], {}
        value, json_diags = parse_json(text, path)
        if is_authorization_details(value):  # an export of IAM account authorization details: a world
            try:
                world = load([path])
            except InvalidInput as exc:
                return exc.diagnostics, exc.sources
            return list(world.warnings), world.sources
        diags = Diagnostics(json_diags)  # (the document is read once: what parse_policy_text does)
        policy = policy_from_value(value, path, diags) if value is not None else None
        items = list(diags)
        if policy is not None and not diags.has_errors():
            items += validate_policy(policy, kind)
        return items, {path: text}
    if path.endswith(".dl"):  # a guardrails file
        from .guardrails import load_guardrails

        try:
            rules = load_guardrails(path)
        except InvalidInput as exc:
            return exc.diagnostics, exc.sources
        return list(rules.warnings), {path: rules.program.text}
    try:
        world = load([path])
    except InvalidInput as exc:
        return exc.diagnostics, exc.sources
    return list(world.warnings), world.sources


def cmd_validate(args) -> int:
    paths = _expand(args.paths)
    all_diags: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for path in paths:
        diags, srcs = _validate_file(path, kind_of(path, args.kind))
        all_diags += diags
        sources.update(srcs)
    all_diags = list(dict.fromkeys(all_diags))
    errors = [d for d in all_diags if d.is_error]
    if args.format == "json":
        print(json.dumps({"valid": not errors, "diagnostics": [d.to_json() for d in Diagnostics(all_diags).sorted()]},
                         indent=2))
    else:
        if all_diags:
            print(Diagnostics(all_diags).render(sources))
        n_warn = len(all_diags) - len(errors)
        print(f"{len(paths)} file(s): {len(errors)} error(s), {n_warn} warning(s)", file=sys.stderr)
    return EXIT_INVALID if errors else EXIT_OK


def _fact_text(fact: tuple) -> str:
    return f"{fact[0]}({', '.join(str(a) if isinstance(a, int) else json.dumps(a, ensure_ascii=False) for a in fact[1:])})."


def cmd_facts(args) -> int:
    from .schema import RELATIONS
    from .world import load

    unknown = [r for r in args.relation or () if r not in RELATIONS]
    if unknown:
        raise InvalidInput([Diagnostic("E511", f"--relation {r!r} is not a relation of the schema",
                                       help=did_you_mean(r, RELATIONS)) for r in unknown])
    world = load(args.paths)
    for fact in world.facts():
        if args.relation and fact[0] not in args.relation:
            continue
        print(_fact_text(fact))
    return EXIT_OK


def parse_context(items: Sequence[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` pairs; a key given twice (in any case: condition key names are
    case-insensitive) becomes a list (a multivalued key); ``KEY=[a,b]`` too."""
    context: dict[str, object] = {}
    spelled: dict[str, str] = {}  # a key in lower case -> as first given
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput([Diagnostic("E505", f"context entry {item!r} is not KEY=VALUE")])
        key = spelled.setdefault(key.lower(), key)
        values: object = [v.strip() for v in value[1:-1].split(",") if v.strip()] if (
            value.startswith("[") and value.endswith("]")) else value
        if key in context:
            prev = context[key]
            context[key] = (prev if isinstance(prev, list) else [prev]) + (values if isinstance(values, list) else [values])
        else:
            context[key] = values
    return context


def print_decision(decision, view: str, fmt: str) -> None:
    if fmt == "json":
        data = decision.to_json()
        data["explanation"] = decision.proof().to_json() if view == "full" else decision.explain(view)
        print(json.dumps(data, indent=2))
    else:
        print(decision.explain(view))
        if view != "full" and decision.warnings:  # the full view ends with them
            print("warnings:\n" + "\n".join(f"  {w}" for w in decision.warnings))


def cmd_check(args) -> int:
    from .world import load

    world = load(args.world)
    for w in world.warnings:
        print(w.render(world.sources), file=sys.stderr)
    from .simulate import one_session_policy

    session = one_session_policy(args.session_policy)
    if session is not None:
        session = _read_policy_arg(session)
    decision = world.check(args.principal, args.action, args.resource, parse_context(args.context),
                           session_policy=session, federating_user=args.federating_user)
    print_decision(decision, args.explain, args.format)
    return EXIT_OK if decision.allowed else EXIT_DENIED


def cmd_import_gaad(args) -> int:
    from .grammar.printer import print_world
    from .world import check_world

    names = {}
    for item in args.account_name or ():
        acct, sep, name = item.partition("=")
        if not sep or not acct or not name:
            raise InvalidInput([Diagnostic("E511", f"--account-name {item!r} is not ACCOUNT_ID=NAME")])
        names[acct] = name
    sources: dict[str, str] = {}
    model, diags = authorization_details_model(args.paths, names, sources)
    for acct in sorted(set(names) - {a.id for a in model.accounts}):
        diags.add("E511", f"--account-name names account {acct}, which the exports do not hold",
                  help=did_you_mean(acct, [a.id for a in model.accounts]))
    if not diags.has_errors():
        diags.extend(check_world(model))
    if diags.has_errors():
        raise InvalidInput(diags.sorted(), sources)
    for w in diags.warnings:
        print(w.render(sources), file=sys.stderr)
    text = "".join(f"# Imported by `iamlogic import-gaad` from {p}\n" for p in args.paths) + "\n" + print_world(model)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _read_policy_arg(value: str) -> str:
    """A policy given on the command line: inline JSON, or ``file://path``."""
    if value.startswith("file://"):
        path = value[len("file://"):]
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise InvalidInput([Diagnostic("E320", f"cannot read '{path}': {exc.strerror}")]) from None
    if not value.lstrip().startswith("{") and os.path.isfile(value):
        raise InvalidInput([Diagnostic("E320", f"the session policy is JSON text or file://PATH, not the path "
                                               f"{value!r}", help=f"write file://{value}")])
    return value


class _StoreOnce(argparse._StoreAction):
    """argparse's ``store``, except that an option given twice is an error (argparse would keep
    the last value and drop the others silently)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_options_given", set())
        if option_string is not None:
            if self.dest in given:
                parser.error(f"argument {'/'.join(self.option_strings)}: given more than once; give it once"
                             + (", with all its values" if self.nargs in ("+", "*") else ""))
            given.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """The parser of iamlogic and its commands: an option that takes a value is given once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iamlogic", description="AWS access questions answered by logic.")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check world files (.iaml), policy documents (.json) and guardrails files (.dl)")
    v.add_argument("paths", nargs="+", help="files, or folders to search for .iaml, .json and .dl files")
    v.add_argument("--kind", choices=POLICY_KINDS, default="identity",
                   help="the kind a JSON policy document is validated as, unless its name says "
                        "(NAME.scp.json, NAME.trust.json, ...); default: identity")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.set_defaults(run=cmd_validate)

    f = sub.add_parser("facts", help="print the Datalog facts a world compiles to")
    f.add_argument("paths", nargs="+", help="the world's .iaml files")
    f.add_argument("--relation", action="append", help="print only this relation (repeatable)")
    f.set_defaults(run=cmd_facts)

    c = sub.add_parser("check", help="decide one request against a world (exit 0 allowed, 2 denied)")
    c.add_argument("world", nargs="+", help="the world's .iaml files")
    c.add_argument("--principal", required=True,
                   help="user/role/root ARN, assumed-role or federated-user session ARN, account id, "
                        "service principal, 'anonymous', or a unique user or role name")
    c.add_argument("--action", required=True)
    c.add_argument("--resource", required=True)
    c.add_argument("--context", action="append", metavar="KEY=VALUE",
                   help="a condition key of the request (repeat a key, or KEY=[a,b], for a multivalued key)")
    c.add_argument("--session-policy", action="append", help="the session policy: JSON text or file://path")
    c.add_argument("--federating-user", help="for a federated-user session: the IAM user that called GetFederationToken (ARN, or name in the session's account)")
    c.add_argument("--explain", choices=("full", "blockers", "summary"), default="summary")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(run=cmd_check)

    from .simulate import add_commands

    add_commands(sub)
    from .repl import add_commands as add_repl_commands

    add_repl_commands(sub)
    from .verify import add_commands as add_verify_commands

    add_verify_commands(sub)
    from .graph import add_commands as add_graph_commands

    add_graph_commands(sub)
    from .privesc import add_commands as add_privesc_commands

    add_privesc_commands(sub)
    from .batch import add_commands as add_batch_commands

    add_batch_commands(sub)
    from .billing import add_commands as add_billing_commands

    add_billing_commands(sub)
    from .tagging import add_commands as add_tagging_commands

    add_tagging_commands(sub)
    from .trails import add_commands as add_trail_commands

    add_trail_commands(sub)
    from .routes import add_commands as add_route_commands

    add_route_commands(sub)
    g = sub.add_parser("import-gaad", help="write a world (.iaml) from `aws iam get-account-authorization-details` "
                                           "output, one account a file")
    g.add_argument("paths", nargs="+", help="the JSON export files")
    g.add_argument("--account-name", action="append", metavar="ID=NAME",
                   help="the name of an account in the world (default: its id)")
    g.add_argument("-o", "--output", help="write the world here instead of to standard output")
    g.set_defaults(run=cmd_import_gaad)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors are invalid input (3), --help is success
        return EXIT_INVALID if exc.code not in (0, None) else EXIT_OK
    try:
        return args.run(args)
    except InvalidInput as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C: what was written stays; the status says it was cut short
        print("iamlogic: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file that cannot be read or written (an output path in a missing folder, …)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"iamlogic: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        print(f"iamlogic: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("IAMLOGIC_DEBUG"):
            raise
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
