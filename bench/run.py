"""The benchmark of issue 6: iamlogic's decisions timed, side by side with the plain reference
evaluator and cedarpy, answers compared.

    python bench/run.py --size S --requests 1000 [--compare reference,cedar] [--jobs N]

Prints the world, the request mix, a table of figures (Markdown, as pasted into bench/README.md)
and the ratios. Every time is measured with ``time.perf_counter_ns`` on this machine. A figure
that would take longer than ``--budget`` seconds (default 600) at the measured speed is taken on
a sample — the first k requests of the (randomly ordered) mix — and the table says
"sampled k of N"; totals computed from a sample say "extrapolated". Nothing is extrapolated
silently.

Answers are compared: iamlogic's batch against its own single decisions, iamlogic against the
reference evaluator (every request iamlogic decided), and iamlogic, the reference and cedarpy
(whole policy set and sliced per principal) on the requests inside the Cedar subset (see
bench/cedar.py). Every mismatch is printed with the request that reproduces it and counted; any
mismatch makes the script exit 1.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.reference

import worlds  # noqa: E402
from worlds import (REGION, generate, matrix_axes, request_key, row_requests, unique_requests,  # noqa: E402
                    who_can_target, zipf_requests)

from iamlogic.batch import run_batch  # noqa: E402
from iamlogic.world import World  # noqa: E402

ns = time.perf_counter_ns
WHO_CAN_CONTEXT = {"aws:RequestedRegion": REGION, "aws:SecureTransport": "true",
                   "aws:MultiFactorAuthPresent": "true", "aws:SourceIp": "10.1.2.3"}


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_ns(v: float | None) -> str:
    if v is None:
        return "—"
    if v < 1_000:
        return f"{v:.0f} ns"
    if v < 1_000_000:
        return f"{v / 1e3:.1f} µs"
    if v < 1_000_000_000:
        return f"{v / 1e6:.1f} ms"
    if v < 600e9:
        return f"{v / 1e9:.2f} s"
    if v < 2 * 3600e9:
        return f"{v / 60e9:.0f} min"
    if v < 3 * 86400e9:
        return f"{v / 3600e9:.1f} h"
    return f"{v / 86400e9:,.0f} days"


def fmt_rate(per_s: float | None) -> str:
    if per_s is None:
        return "—"
    if per_s >= 1000:
        return f"{per_s:,.0f}/s"
    return f"{per_s:.1f}/s"


def fmt_bytes(b: float | None) -> str:
    if b is None:
        return "—"
    return f"{b / 2**20:,.0f} MiB"


def pct(values: list[int], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


def vm(field: str) -> int | None:
    """VmRSS / VmHWM of this process in bytes (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Timing with a budget


class Timed:
    """Per-call times of ``fn`` over a prefix of ``items``, no longer than about ``budget`` seconds."""

    def __init__(self, name: str, items: list, fn, budget: float, pilot: int = 5, minimum: int = 20):
        self.name, self.total = name, len(items)
        self.times: list[int] = []
        self.cpu_times: list[int] = []  # process CPU time of each call (robust to other processes)
        self.results: list = []
        start, cpu0 = ns(), time.process_time_ns()
        cap = len(items)
        for i, item in enumerate(items):
            if i >= cap:
                break
            t0, c0 = ns(), time.process_time_ns()
            r = fn(item)
            self.times.append(ns() - t0)
            self.cpu_times.append(time.process_time_ns() - c0)
            self.results.append(r)
            if i + 1 == pilot and len(items) > pilot:
                per = sum(self.times) / len(self.times)
                if per * len(items) > budget * 1e9:
                    cap = max(minimum, int(budget * 1e9 / per))
            if ns() - start > 1.5 * budget * 1e9 and i + 1 >= minimum:
                break
        self.n = len(self.times)
        self.wall = ns() - start
        self.cpu_share = (time.process_time_ns() - cpu0) / self.wall if self.wall else float("nan")

    @property
    def sampled(self) -> bool:
        return self.n < self.total

    def note(self) -> str:
        return f" (sampled {self.n} of {self.total})" if self.sampled else ""

    def share(self) -> str:
        return f"CPU share {self.cpu_share:.0%}, CPU-time p50 {fmt_ns(pct(self.cpu_times, .5))}"

    def p(self, q: float) -> float:
        return pct(self.times, q)

    def mean(self) -> float:
        return statistics.fmean(self.times) if self.times else float("nan")


def solve_split(world: World, requests: list) -> dict[str, list[int]]:
    """Each request decided by ``World.check`` (its decision not cached), its time split in two:
    inside the function the rules of ``logic/rules/`` compile into (the rules' evaluation, with the
    builtins it calls: Resource patterns, conditions, Principal entries), and the rest (resolving
    the request, its cache key, the verdict, the Decision). The function is timed by wrapping it
    on the world's solver for these requests alone; answers are not changed. The wrapper adds
    about 0.4 µs a call (timed around a function that does nothing), less than half of it inside
    the timed part."""
    ev = world.evaluator()
    solver = ev._solver
    inner = solver._solve
    spent = [0]

    def timed(req, pre):
        t0 = ns()
        found = inner(req, pre)
        spent[0] += ns() - t0
        return found

    out: dict[str, list[int]] = {"total": [], "solve": [], "rest": []}
    solver._solve = timed
    try:
        for req in requests:
            spent[0] = 0
            t0 = ns()
            world.check(*req)
            total = ns() - t0
            out["total"].append(total)
            out["solve"].append(spent[0])
            out["rest"].append(total - spent[0])
    finally:
        solver._solve = inner
    return out


# ---------------------------------------------------------------------------------------------
# Deciders


def engine_answer(d) -> tuple[str, tuple[str, ...]]:
    return d.decision, tuple(sorted({s.id for s in d.statements}))


_WORKER_WORLD = None


def _worker_batch(chunk):
    return [engine_answer(d) for d in _WORKER_WORLD.check_many(chunk)]


def parallel_batch(world: World, chunks: list[list], jobs: int) -> tuple[list, int]:
    """check_many over ``chunks`` in ``jobs`` forked processes (each has a copy of the loaded world)."""
    global _WORKER_WORLD
    _WORKER_WORLD = world
    ctx = mp.get_context("fork")
    t0 = ns()
    gc.freeze()  # as iamlogic batch does: the workers' collections leave the world's pages alone
    try:
        with ctx.Pool(jobs) as pool:
            out = pool.map(_worker_batch, chunks, chunksize=1)
    finally:
        gc.unfreeze()
    return [a for c in out for a in c], ns() - t0


def reference_decider(model):
    """tests.reference.reference_decide, with its world index built once instead of per call."""
    import tests.reference as ref

    original = ref._World
    cache: dict[int, object] = {}

    def cached_world(m):
        w = cache.get(id(m))
        if w is None:
            w = cache[id(m)] = original(m)
        return w

    ref._World = cached_world
    t0 = ns()
    cached_world(model)
    build = ns() - t0

    def decide(req):
        return ref.reference_decide(model, req[0], req[1], req[2], req[3])

    return decide, build


# ---------------------------------------------------------------------------------------------
# The run


class Mismatches:
    def __init__(self):
        self.items: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, text: str) -> None:
        self.items[kind].append(text)

    def total(self) -> int:
        return sum(len(v) for v in self.items.values())

    def report(self) -> None:
        if not self.items:
            print("\nAnswer mismatches: none.")
            return
        print(f"\nAnswer mismatches: {self.total()}")
        for kind, texts in self.items.items():
            print(f"  {kind}: {len(texts)}")
            for t in texts[:10]:
                print(f"    {t}")
            if len(texts) > 10:
                print(f"    … {len(texts) - 10} more")


def req_text(req) -> str:
    return json.dumps({"principal": req[0], "action": req[1], "resource": req[2], "context": req[3]})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="S", choices=list(worlds.SIZES))
    ap.add_argument("--requests", type=int, default=10_000, help="unique requests, and warm requests (default 10000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--compare", default="reference,cedar", help="comma list of reference, cedar; 'none' for neither")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the parallel batch figure (default 1: skipped)")
    ap.add_argument("--chunk", type=int, default=1000, help="requests per check_many call (default 1000)")
    ap.add_argument("--matrix-principals", type=int, default=0,
                    help="principals whose rows of the access matrix are decided (default: up to 20, "
                         "at most 500,000 decisions)")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds one figure may take before it is sampled")
    ap.add_argument("--profile", action="store_true", help="cProfile one decision and print the top entries")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    compare = set() if args.compare == "none" else {c.strip() for c in args.compare.split(",") if c.strip()}
    mism = Mismatches()
    fig: dict = {"size": args.size, "requests": args.requests, "seed": args.seed, "jobs": args.jobs,
                 "python": platform.python_version(), "cpus": os.cpu_count()}
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"# iamlogic benchmark — {command}")
    print(f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start, budget {args.budget:.0f} s a figure\n")

    # -- world and requests --------------------------------------------------------------------
    t0 = ns()
    gen = generate(args.size, args.seed)
    t_gen = ns() - t0
    st = gen.stats
    print(f"World {args.size} (seed {args.seed}, generated in {fmt_ns(t_gen)}): {st['accounts']} accounts, "
          f"{st['ous']} OUs in {st['ou_levels']} level(s), {st['principals']} principals ({st['users']} users, "
          f"{st['roles']} roles, {st['groups']} groups), {st['statements']:,} statements "
          f"({st['with_conditions']:,} = {st['with_conditions'] / st['statements']:.0%} with conditions), "
          f"{st['scps']} SCPs attached at every level, {st['resources']} resources "
          f"({st['resource_policies']} with resource policies), boundaries on {st['boundaries']} principals "
          f"({st['boundaries'] / st['principals']:.0%}).")
    fig["world"] = st
    cold = unique_requests(gen, args.requests)
    warm = zipf_requests(cold, args.requests)
    distinct_warm = len({request_key(r) for r in warm})
    print(f"Requests: {len(cold):,} unique (cold); {len(warm):,} Zipf(1.1)-repeated (warm) over "
          f"{distinct_warm:,} distinct.")

    if args.size in ("XS", "S"):
        t0 = ns()
        diags = World(gen.model).diagnostics()
        errors = [d for d in diags if d.is_error]
        print(f"Validation: {len(errors)} errors, {len(diags) - len(errors)} warnings "
              f"({fmt_ns(ns() - t0)}).")
        if errors:
            for d in errors[:20]:
                print(f"  {d.code} {d.message}")
            return 1

    # -- load ----------------------------------------------------------------------------------
    gc.collect()
    rss_before = vm("VmRSS")
    peak_ok = reset_peak()
    t0 = ns()
    world = World(gen.model)
    world.evaluator()
    t_load = ns() - t0
    peak = vm("VmHWM") if peak_ok else None
    # The parts, measured again apart (the world's own load above is the figure).
    from iamlogic.compile import compile_world
    from iamlogic.world import check_world

    t0 = ns()
    check_world(gen.model)
    t_check = ns() - t0
    t0 = ns()
    facts = compile_world(gen.model, with_catalog=False)
    t_compile = ns() - t0
    n_facts = len(facts)
    del facts
    print(f"Load: {fmt_ns(t_load)} (of which validation ≈ {fmt_ns(t_check)}, compile ≈ {fmt_ns(t_compile)} "
          f"to {n_facts:,} facts, evaluator ≈ {fmt_ns(t_load - t_check - t_compile)}: request-independent "
          f"relations, indexes, principals and resources); peak RSS "
          f"{fmt_bytes(peak)}, {fmt_bytes(peak - rss_before) if peak and rss_before else '—'} above the RSS "
          f"before loading.")
    fig.update(load_ns=t_load, validate_ns=t_check, compile_ns=t_compile, facts=n_facts, peak_rss=peak,
               peak_rss_above=(peak - rss_before) if peak and rss_before else None)

    # -- iamlogic ------------------------------------------------------------------------------
    t0 = ns()
    first = world.check(*cold[0])
    t_first = ns() - t0
    fig["first_ns"] = t_first
    print(f"First decision: {fmt_ns(t_first)} ({first.decision})")

    if args.profile:
        import cProfile
        import pstats

        world.check(*cold[1])
        prof = cProfile.Profile()
        prof.enable()
        world.check(*cold[2])
        prof.disable()
        print("\ncProfile of one decision (iamlogic World.check), top 30 by cumulative time:")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        print("top 20 by own time:")
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)

    answers: dict[tuple, tuple] = {}  # request key -> engine answer
    req_by_key: dict[tuple, tuple] = {}

    def check_one(req):
        a = engine_answer(world.check(*req))
        k = request_key(req)
        answers.setdefault(k, a)
        req_by_key[k] = req
        return a

    def uncached():
        """Forget every cached decision and the compiled rules' tree of calls, so that the next
        figure decides each request afresh (the world's request-independent answers stay)."""
        world.evaluator().forget()

    uncached()
    e_cold = Timed("cold", cold, check_one, args.budget)
    print(f"iamlogic cold: {e_cold.n} decisions{e_cold.note()}, p50 {fmt_ns(e_cold.p(.5))}, "
          f"p99 {fmt_ns(e_cold.p(.99))} ({e_cold.share()}, load average {os.getloadavg()[0]:.1f})")
    e_warm = Timed("warm", warm, check_one, args.budget)
    print(f"iamlogic warm: {e_warm.n} decisions{e_warm.note()}, p50 {fmt_ns(e_warm.p(.5))}, "
          f"p99 {fmt_ns(e_warm.p(.99))} ({e_warm.share()}, load average {os.getloadavg()[0]:.1f}); "
          f"the warm requests repeat cold ones, so they come from the decision cache")
    # repeated requests: World.check in a tight loop over the Zipf mix, every answer from the cache
    check = world.check
    t0 = ns()
    for _ in range(5):
        for req in warm:
            check(*req)
    repeated_rate = 5 * len(warm) / ((ns() - t0) / 1e9)
    print(f"iamlogic repeated requests (World.check in a loop over the warm mix, 5 times): {fmt_rate(repeated_rate)}")
    fig["repeated_rate"] = repeated_rate
    # the unique requests again, decisions not cached: what a long-running service pays for a new
    # request once the world's kept answers (principals, policies per action, patterns, conditions) are warm
    uncached()
    e_again = Timed("cold again", cold, check_one, args.budget)
    print(f"iamlogic cold, second pass (decisions not cached, the world's kept answers warm): {e_again.n} decisions"
          f"{e_again.note()}, p50 {fmt_ns(e_again.p(.5))}, p99 {fmt_ns(e_again.p(.99))} ({e_again.share()})")
    fig.update(cold_again_p50=e_again.p(.5), cold_again_p99=e_again.p(.99))
    # the same pass once more, split: the time inside the compiled rules' generated function and
    # the rest of World.check
    uncached()
    split = solve_split(world, cold[:e_again.n])
    print(f"iamlogic cold, second pass, split ({len(split['total'])} decisions): inside the compiled rules' "
          f"function p50 {fmt_ns(pct(split['solve'], .5))} (mean {fmt_ns(statistics.fmean(split['solve']))}), "
          f"the rest of World.check p50 {fmt_ns(pct(split['rest'], .5))} "
          f"(mean {fmt_ns(statistics.fmean(split['rest']))}), whole p50 {fmt_ns(pct(split['total'], .5))}")
    fig.update(split_solve_p50=pct(split["solve"], .5), split_rest_p50=pct(split["rest"], .5),
               split_total_p50=pct(split["total"], .5))
    # a service that checks rows: a few callers and actions, each request on an object of a
    # bucket that no request named before (unique requests, as the cold ones, of another shape)
    rows = row_requests(cold, args.requests)
    uncached()
    e_rows = Timed("rows", rows, check_one, args.budget)
    mix_rows = Counter(answers[request_key(r)][0] for r in rows[:e_rows.n])
    n_callers = len({r[:2] for r in rows})
    print(f"iamlogic rows ({n_callers} callers and actions, a new S3 object each request): "
          f"{e_rows.n} decisions{e_rows.note()}, p50 {fmt_ns(e_rows.p(.5))}, p99 {fmt_ns(e_rows.p(.99))} "
          f"({e_rows.share()}); " + ", ".join(f"{k} {v}" for k, v in sorted(mix_rows.items())))
    fig.update(rows_p50=e_rows.p(.5), rows_p99=e_rows.p(.99), rows_n=e_rows.n, rows_callers=n_callers,
               mix_rows=dict(mix_rows))

    # a service that prepares its world before taking requests (World.prepare): a fresh world of
    # the same model, prepared, then the unique requests; answers compared with the first world's
    prepared = World(gen.model)
    prepared.evaluator()
    t0 = ns()
    n_prepared = prepared.prepare()
    t_prepare = ns() - t0

    def check_prepared(req):
        a = engine_answer(prepared.check(*req))
        k = request_key(req)
        if k in answers and answers[k] != a:
            mism.add("iamlogic prepared world vs not", f"{req_text(req)}: prepared {a}, not prepared {answers[k]}")
        return a

    e_prep = Timed("cold, prepared", cold, check_prepared, args.budget)
    prepared = None  # (the second world freed; check_prepared is not called again)
    print(f"iamlogic cold, world prepared (World.prepare: {n_prepared:,} requests of its own in {fmt_ns(t_prepare)}): "
          f"{e_prep.n} decisions{e_prep.note()}, p50 {fmt_ns(e_prep.p(.5))}, p99 {fmt_ns(e_prep.p(.99))} "
          f"({e_prep.share()})")
    fig.update(prepare_ns=t_prepare, prepared_requests=n_prepared, cold_prepared_p50=e_prep.p(.5),
               cold_prepared_p99=e_prep.p(.99))

    # batch: check_many on chunks of the unique requests
    chunks = [cold[i:i + args.chunk] for i in range(0, len(cold), args.chunk)]

    def batch_one(chunk):
        return [engine_answer(d) for d in world.check_many(chunk)]

    uncached()
    e_batch = Timed("batch", chunks, batch_one, args.budget, pilot=1, minimum=1)
    batch_n = sum(len(c) for c in chunks[:e_batch.n])
    batch_rate = batch_n / (sum(e_batch.times) / 1e9)
    for chunk, res in zip(chunks, e_batch.results):
        for req, a in zip(chunk, res):
            k = request_key(req)
            if k in answers and answers[k] != a:
                mism.add("iamlogic check_many vs check", f"{req_text(req)}: batch {a} single {answers[k]}")
            answers.setdefault(k, a)
            req_by_key[k] = req
    print(f"iamlogic batch (CPU share {e_batch.cpu_share:.0%}): {batch_n} decisions in chunks of {args.chunk}"
          f"{' (sampled ' + str(batch_n) + ' of ' + str(len(cold)) + ')' if batch_n < len(cold) else ''}: "
          f"{fmt_rate(batch_rate)}")
    fig.update(cold_p50=e_cold.p(.5), cold_p99=e_cold.p(.99), cold_n=e_cold.n, warm_p50=e_warm.p(.5),
               warm_p99=e_warm.p(.99), warm_n=e_warm.n, batch_rate=batch_rate, batch_n=batch_n)

    par_rate = None
    if args.jobs > 1:
        # the requests of the (possibly sampled) batch figure, split so that every process has work
        # in the order iamlogic batch decides them (by principal, action, resource), so that each
        # process gets requests of the same principals
        reqs = sorted((r for c in chunks[:e_batch.n] for r in c), key=lambda r: (r[0], r[1], r[2]))
        size = max(1, min(args.chunk, -(-len(reqs) // args.jobs)))
        par_chunks = [reqs[i:i + size] for i in range(0, len(reqs), size)]
        uncached()  # the workers are forked: they would inherit the cache
        par_res, par_wall = parallel_batch(world, par_chunks, args.jobs)
        par_n = sum(len(c) for c in par_chunks)
        par_rate = par_n / (par_wall / 1e9)
        for req, a in zip([r for c in par_chunks for r in c], par_res):
            k = request_key(req)
            if k in answers and answers[k] != a:
                mism.add("iamlogic parallel check_many vs check", f"{req_text(req)}: {a} vs {answers[k]}")
        print(f"iamlogic batch, {args.jobs} processes: {par_n} decisions in {fmt_ns(par_wall)} wall "
              f"(pool start-up included): {fmt_rate(par_rate)}")
        fig["parallel_rate"] = par_rate

    # who-can: one action and resource, every principal, one check_many
    action, resource = who_can_target(gen, cold)
    who_reqs = [(p, action, resource, WHO_CAN_CONTEXT) for p in gen.principals]
    pilot = who_reqs[:20]
    uncached()
    t0 = ns()
    world.check_many(pilot)
    per = 2 * (ns() - t0) / len(pilot)  # a larger check_many costs more per request than the pilot
    if per * len(who_reqs) <= args.budget * 1e9:
        uncached()
        t0 = ns()
        who_ans = [engine_answer(d) for d in world.check_many(who_reqs)]
        t_who = ns() - t0
        who_label = ""
        who_done = who_reqs
    else:
        k = max(10, int(args.budget * 1e9 / per))
        who_done = who_reqs[:k]
        t0 = ns()
        who_ans = [engine_answer(d) for d in world.check_many(who_done)]
        t_who = (ns() - t0) * len(who_reqs) / len(who_done)
        who_label = f" (extrapolated from {len(who_done)} of {len(who_reqs)} principals)"
    who_allowed = sum(1 for a in who_ans if a[0] == "Allow")
    for req, a in zip(who_done, who_ans):
        k = request_key(req)
        answers.setdefault(k, a)
        req_by_key[k] = req
    print(f"iamlogic who-can {action} on {resource}: {who_allowed} of {len(who_done)} principals allowed; "
          f"{fmt_ns(t_who)}{who_label}")
    fig.update(who_can_ns=t_who, who_can_extrapolated=bool(who_label), who_can_target=[action, resource])
    # the analysis itself: every principal of the world, the accounts and principals the policies
    # name, role sessions, anonymous (iamlogic.analysis.who_can), nothing cached
    from iamlogic.analysis import who_can

    t_analysis = None
    if not who_label:
        uncached()
        t0 = ns()
        found = who_can(world, action, resource, WHO_CAN_CONTEXT)
        t_analysis = ns() - t0
        print(f"iamlogic analysis.who_can {action} on {resource}: {len(found)} principal(s) allowed; "
              f"{fmt_ns(t_analysis)}")
    fig["who_can_analysis_ns"] = t_analysis

    # diff: what a change opens, as a pull request makes it (one statement of a resource policy
    # widened to one more account; a user put in one more group), every principal, action and
    # resource of the scope
    from iamlogic.analysis import diff as world_diff

    for name, (changed_model, change) in (("diff", widened_resource_policy(gen.model)),
                                          ("diff_group", joined_group(gen.model))):
        if changed_model is None:
            continue
        changed_world = World(changed_model)
        changed_world.evaluator()
        uncached()
        notes: list[str] = []
        t0 = ns()
        changes = world_diff(world, changed_world, notes=notes)
        t_diff = ns() - t0
        print(f"iamlogic analysis.diff, {change}: {len(changes)} change(s), "
              f"{sum(c.grants for c in changes)} new access; {fmt_ns(t_diff)} ({notes[0] if notes else 'every request'})")
        fig.update({f"{name}_ns": t_diff, f"{name}_changes": len(changes), f"{name}_note": notes[0] if notes else None})
        del changed_world

    # the full access matrix (principals × named actions × declared resources), decided for a
    # sample of principals (each with every action and resource) as the issue names it: a file of
    # JSON lines through iamlogic batch (run_batch: read, decided in --jobs processes, answers
    # written to a file), and extrapolated to every principal
    mp_, ma_, mr_ = matrix_axes(gen)
    cells = len(mp_) * len(ma_) * len(mr_)
    per_principal = len(ma_) * len(mr_)
    wanted = args.matrix_principals or max(1, min(20, 500_000 // max(1, per_principal)))
    sampled = sorted(random.Random(args.seed).sample(mp_, min(len(mp_), wanted)))
    m_reqs = [(p, a, r) for p in sampled for a in ma_ for r in mr_]
    with tempfile.TemporaryDirectory() as tmp:
        m_in, m_out = Path(tmp) / "matrix.jsonl", Path(tmp) / "answers.jsonl"
        m_in.write_text("".join(json.dumps({"principal": p, "action": a, "resource": r}) + "\n"
                                for p, a, r in m_reqs))
        uncached()
        t0 = ns()
        with m_in.open(encoding="utf-8") as src, m_out.open("w", encoding="utf-8") as dst:
            m_decided, m_failed = run_batch(world, src, dst, jobs=args.jobs)
        m_wall = ns() - t0
        # what no decision can take off: the same lines read and their answers written, in one
        # process, every answer the same (iamlogic.batch's own reading and writing)
        from iamlogic.batch import _Writer, parse_request

        writer, verdict = _Writer(), ("ImplicitDeny", (), (), ())
        c0 = time.process_time_ns()
        with m_in.open(encoding="utf-8") as src:
            for n, text in enumerate(src, 1):
                args_ = parse_request(text)[0]
                writer.answer(n, writer.head(args_[0], args_[1]), args_[2], verdict)
        m_io = (time.process_time_ns() - c0) / len(m_reqs)  # CPU a line
        picked = set(random.Random(args.seed).sample(range(len(m_reqs)), min(200, len(m_reqs))))
        with m_out.open(encoding="utf-8") as dst:  # a sample of the answers, to check against World.check
            m_lines, m_rows = 0, []
            for i, line in enumerate(dst):
                m_lines += 1
                if i in picked:
                    m_rows.append(json.loads(line))
        # the same rows as one line a principal, the product of every action and every resource
        # (iamlogic batch reads a line of lists as the product of its lists); every answer compared
        # with the one-request-a-line file's, but for its line number
        p_in, p_out = Path(tmp) / "products.jsonl", Path(tmp) / "product-answers.jsonl"
        p_in.write_text("".join(json.dumps({"principal": p, "action": ma_, "resource": mr_}) + "\n" for p in sampled))
        uncached()
        t0 = ns()
        with p_in.open(encoding="utf-8") as src, p_out.open("w", encoding="utf-8") as dst:
            p_decided, p_failed = run_batch(world, src, dst, jobs=args.jobs)
        p_wall = ns() - t0
        with m_out.open(encoding="utf-8") as one, p_out.open(encoding="utf-8") as product:
            differ = sum(a.split(", ", 1)[1] != b.split(", ", 1)[1] for a, b in itertools.zip_longest(
                one, product, fillvalue="?, ?"))
        if differ or (p_decided, p_failed) != (m_decided, m_failed):
            mism.add("matrix", f"the product lines' answers differ from the one-request lines' on {differ} requests")
    uncached()
    if m_failed or m_lines != len(m_reqs):
        mism.add("matrix", f"iamlogic batch answered {m_decided} of {len(m_reqs)} matrix requests ({m_failed} failed)")
    for row in m_rows:
        d = world.check(row["principal"], row["action"], row["resource"])
        if (row.get("decision"), row.get("statements"), row.get("missing_context"), row.get("warnings")) != (
                d.decision, [s.label() for s in d.statements], list(d.missing_context), list(d.warnings)):
            mism.add("matrix", f"batch {row} != check {engine_answer(d)}")
    t_matrix = m_wall * len(mp_) / len(sampled)
    matrix_note = (f"measured on {len(sampled)} of {len(mp_)} principals ({len(m_reqs):,} decisions, "
                   f"{fmt_rate(len(m_reqs) / (m_wall / 1e9))}, iamlogic batch with {args.jobs} process"
                   f"{'es' if args.jobs > 1 else ''}, JSON lines in and out), extrapolated")
    t_io = m_io * cells / max(1, args.jobs)
    t_product = p_wall * len(mp_) / len(sampled)
    print(f"Access matrix as one line a principal (its actions × its resources, `iamlogic batch` with {args.jobs} "
          f"process{'es' if args.jobs > 1 else ''}): {fmt_ns(t_product)} (measured on {len(sampled)} principals, "
          f"{fmt_rate(len(m_reqs) / (p_wall / 1e9))}, extrapolated)")
    fig.update(matrix_product_ns=t_product, matrix_product_rate=len(m_reqs) / (p_wall / 1e9))
    print(f"Access matrix: {len(mp_)} principals × {len(ma_)} actions × {len(mr_)} resources = {cells:,} "
          f"decisions: {fmt_ns(t_matrix)} ({matrix_note}); at the batch throughput of unique requests it "
          f"would take {fmt_ns(cells / (par_rate or batch_rate) * 1e9)}. Reading the lines and writing "
          f"answers alone, without deciding: {fmt_ns(m_io)} of CPU a line, {fmt_ns(t_io)} for the matrix "
          f"on {max(1, args.jobs)} core(s)")
    fig.update(matrix_cells=cells, matrix_ns=t_matrix, matrix_sample_principals=len(sampled),
               matrix_sample_rate=len(m_reqs) / (m_wall / 1e9), matrix_io_ns_per_line=m_io, matrix_io_ns=t_io)

    # -- the mix ----------------------------------------------------------------------------
    mix_engine = Counter(answers[request_key(r)][0] for r in cold if request_key(r) in answers)
    print(f"Mix (iamlogic, {sum(mix_engine.values())} unique requests decided): "
          + ", ".join(f"{k} {v} ({v / sum(mix_engine.values()):.0%})" for k, v in sorted(mix_engine.items())))
    fig["mix_engine"] = dict(mix_engine)

    # -- reference -----------------------------------------------------------------------------
    ref = None
    if "reference" in compare:
        decide, t_ref_build = reference_decider(gen.model)
        ref_answers: dict[tuple, str] = {}

        def ref_one(req):
            a = decide(req)
            ref_answers[request_key(req)] = a
            return a

        r_cold = Timed("ref cold", cold, ref_one, args.budget)
        r_warm = Timed("ref warm", warm, decide, args.budget)
        ref = dict(build=t_ref_build, cold=r_cold, warm=r_warm)
        print(f"reference: index {fmt_ns(t_ref_build)}; cold {r_cold.n}{r_cold.note()} p50 {fmt_ns(r_cold.p(.5))} "
              f"p99 {fmt_ns(r_cold.p(.99))}; warm p50 {fmt_ns(r_warm.p(.5))} p99 {fmt_ns(r_warm.p(.99))}")
        mix_ref = Counter(ref_answers.values())
        print(f"Mix (reference, {sum(mix_ref.values())} unique requests): "
              + ", ".join(f"{k} {v} ({v / sum(mix_ref.values()):.0%})" for k, v in sorted(mix_ref.items())))
        fig.update(ref_build=t_ref_build, ref_cold_p50=r_cold.p(.5), ref_cold_p99=r_cold.p(.99),
                   ref_warm_p50=r_warm.p(.5), ref_warm_p99=r_warm.p(.99), mix_reference=dict(mix_ref))
        for k, a in answers.items():
            req = req_by_key[k]
            ra = ref_answers.get(k) or decide(req)
            ref_answers[k] = ra
            if ra != a[0]:
                mism.add("iamlogic vs reference", f"{req_text(req)}: iamlogic {a[0]}, reference {ra}")
        missing = [m for m in ("Allow", "ExplicitDeny", "ImplicitDeny") if m not in mix_ref]
        if missing:
            print(f"WARNING: the request mix has no {', '.join(missing)}")

    # -- cedar ---------------------------------------------------------------------------------
    ced = None
    if "cedar" in compare:
        from cedar import CedarWorld

        t0 = ns()
        cw = CedarWorld(gen.model)
        t_translate = ns() - t0
        t0 = ns()
        cw.build()
        t_parse = ns() - t0
        t0 = ns()
        for p in gen.principals:
            cw.sliced(p)
        t_slice = ns() - t0
        print(f"cedar: {len(cw.policies):,} Cedar policies from the identity statements "
              f"({cw.skipped:,} identity statements not translatable); translation {fmt_ns(t_translate)}, "
              f"parse (policy set + entities) {fmt_ns(t_parse)}, {len(gen.principals)} per-principal slices "
              f"{fmt_ns(t_slice)}")
        subset = {}
        reasons = Counter()
        for req in cold:
            ok, why = cw.in_subset(req[0], req[1], req[2])
            subset[request_key(req)] = ok
            reasons[why or "in subset"] += 1
        n_in = reasons["in subset"]
        print(f"Cedar subset: {n_in} of {len(cold)} unique requests ({n_in / len(cold):.0%}); outside: "
              + ", ".join(f"{k} {v}" for k, v in reasons.most_common() if k != "in subset"))
        c_whole = Timed("cedar whole", cold, lambda r: cw.decide(r[0], r[1], r[2], cw.whole), args.budget)
        c_sliced = Timed("cedar sliced", cold, lambda r: cw.decide(r[0], r[1], r[2], cw.sliced(r[0])), args.budget)
        c_warm_w = Timed("cedar whole warm", warm, lambda r: cw.decide(r[0], r[1], r[2], cw.whole), args.budget)
        c_warm_s = Timed("cedar sliced warm", warm, lambda r: cw.decide(r[0], r[1], r[2], cw.sliced(r[0])),
                         args.budget)
        chunk_reqs = [[cw.cedar_request(r[0], r[1], r[2]) for r in c] for c in chunks]
        import cedarpy

        t0 = ns()
        nb = 0
        for c in chunk_reqs:
            cedarpy.is_authorized_batch(c, cw.whole, cw.entities)
            nb += len(c)
            if ns() - t0 > args.budget * 1e9:
                break
        c_batch_rate = nb / ((ns() - t0) / 1e9)
        print(f"cedarpy whole set: cold p50 {fmt_ns(c_whole.p(.5))} p99 {fmt_ns(c_whole.p(.99))}{c_whole.note()}; "
              f"warm p50 {fmt_ns(c_warm_w.p(.5))}; is_authorized_batch {fmt_rate(c_batch_rate)}")
        print(f"cedarpy sliced:    cold p50 {fmt_ns(c_sliced.p(.5))} p99 {fmt_ns(c_sliced.p(.99))}{c_sliced.note()}; "
              f"warm p50 {fmt_ns(c_warm_s.p(.5))}")
        ced = dict(translate=t_translate, parse=t_parse, slice=t_slice, whole=c_whole, sliced=c_sliced,
                   warm_whole=c_warm_w, warm_sliced=c_warm_s, batch_rate=c_batch_rate, subset=n_in)
        fig.update(cedar_policies=len(cw.policies), cedar_subset=n_in, cedar_translate=t_translate,
                   cedar_parse=t_parse, cedar_slice=t_slice, cedar_whole_p50=c_whole.p(.5),
                   cedar_whole_p99=c_whole.p(.99), cedar_sliced_p50=c_sliced.p(.5),
                   cedar_sliced_p99=c_sliced.p(.99), cedar_batch_rate=c_batch_rate)
        compared = Counter()
        subset_mix = Counter()
        for req, whole_a, sliced_a in zip(cold, c_whole.results, c_sliced.results):
            k = request_key(req)
            if whole_a != sliced_a:
                mism.add("cedar whole vs sliced", f"{req_text(req)}: whole {whole_a} sliced {sliced_a}")
            if not subset[k]:
                continue
            compared["cedar"] += 1
            subset_mix[whole_a[0]] += 1
            if k in answers:
                compared["iamlogic"] += 1
                dec, stmts = answers[k]
                ids = cw.identity_statement_ids(req[0])
                mine = (dec, tuple(s for s in stmts if s in ids))
                if mine != whole_a:
                    mism.add("iamlogic vs cedar", f"{req_text(req)}: iamlogic {mine}, cedar {whole_a}")
            if ref is not None:
                compared["reference"] += 1
                ra = ref_answers.get(k) or decide(req)
                if ra != whole_a[0]:
                    mism.add("reference vs cedar", f"{req_text(req)}: reference {ra}, cedar {whole_a[0]}")
        print(f"Compared on the Cedar subset: cedar {compared['cedar']} answers, of which iamlogic "
              f"{compared['iamlogic']} (decision and deciding identity statements), reference "
              f"{compared['reference']} (decision); Cedar's answers there: "
              + ", ".join(f"{k} {v}" for k, v in sorted(subset_mix.items())) + ".")
        fig["cedar_compared"] = dict(compared)

    # -- the table -----------------------------------------------------------------------------
    print_table(args, fig, e_cold, e_warm, batch_rate, batch_n, len(cold), par_rate, t_who, who_label,
                t_matrix, cells, ref, ced)
    mism.report()
    fig["mismatches"] = {k: len(v) for k, v in mism.items.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2, default=str))
    return 1 if mism.total() else 0


def widened_resource_policy(model):
    """The model with the first Allow statement of a resource policy that names principals widened
    to the root of one more account (the last account of the world), and what was changed."""
    from dataclasses import replace

    from iamlogic.grammar.ast import Principal

    other = model.accounts[-1].id
    root = f"arn:aws:iam::{other}:root"
    for i, acct in enumerate(model.accounts):
        for j, res in enumerate(acct.resources):
            statements = res.policy.statements if res.policy is not None else ()
            for k, st in enumerate(statements):
                if st.effect == "Allow" and st.principal and all(p.value not in (other, root) for p in st.principal):
                    widened = replace(st, principal=(*st.principal, Principal("AWS", root)))
                    policy = replace(res.policy, statements=(*statements[:k], widened, *statements[k + 1:]))
                    resources = (*acct.resources[:j], replace(res, policy=policy), *acct.resources[j + 1:])
                    accounts = (*model.accounts[:i], replace(acct, resources=resources), *model.accounts[i + 1:])
                    return (replace(model, accounts=accounts),
                            f"statement {k} of {res.arn}'s policy widened to account {other}")
    return None, None


def joined_group(model):
    """The model with the first user that is not in every group of its account put in one more,
    and what was changed."""
    from dataclasses import replace

    for i, acct in enumerate(model.accounts):
        for j, user in enumerate(acct.users):
            for group in acct.groups:
                if group.name not in user.groups:
                    users = (*acct.users[:j], replace(user, groups=(*user.groups, group.name)), *acct.users[j + 1:])
                    accounts = (*model.accounts[:i], replace(acct, users=users), *model.accounts[i + 1:])
                    return replace(model, accounts=accounts), f"user {user.name} of {acct.id} put in group {group.name}"
    return None, None


def print_table(args, fig, e_cold, e_warm, batch_rate, batch_n, n_cold, par_rate, t_who, who_label,
                t_matrix, cells, ref, ced) -> None:
    rows = []
    na = "—"

    def row(name, eng, r=na, cw=na, cs=na, target=na):
        rows.append((name, eng, r, cw, cs, target))

    load_r = f"{fmt_ns(ref['build'])} (index)" if ref else na
    row("load + compile", fmt_ns(fig["load_ns"]), load_r,
        f"{fmt_ns(ced['translate'] + ced['parse'])} (translate + parse)" if ced else na,
        f"+{fmt_ns(ced['slice'])} (all slices)" if ced else na, "≤ 15 s (L ≤ 150 s)")
    row("peak memory (RSS)", f"{fmt_bytes(fig['peak_rss'])} ({fmt_bytes(fig['peak_rss_above'])} for the load)",
        target="≤ 1 GiB (L ≤ 8 GiB)")
    row("first decision", fmt_ns(fig["first_ns"]))
    row("cold p50", fmt_ns(e_cold.p(.5)) + e_cold.note(), fmt_ns(ref["cold"].p(.5)) if ref else na,
        fmt_ns(ced["whole"].p(.5)) if ced else na, fmt_ns(ced["sliced"].p(.5)) if ced else na, "≤ 25 µs")
    row("cold p99", fmt_ns(e_cold.p(.99)) + e_cold.note(), fmt_ns(ref["cold"].p(.99)) if ref else na,
        fmt_ns(ced["whole"].p(.99)) if ced else na, fmt_ns(ced["sliced"].p(.99)) if ced else na, "≤ 250 µs")
    row("cold p50 / p99, second pass (kept answers warm)",
        f"{fmt_ns(fig['cold_again_p50'])} / {fmt_ns(fig['cold_again_p99'])}")
    row("second pass, split (p50): inside the compiled rules' function / the rest of `World.check`",
        f"{fmt_ns(fig['split_solve_p50'])} / {fmt_ns(fig['split_rest_p50'])}")
    row(f"rows p50 / p99 ({fig['rows_callers']} callers and actions, a new S3 object each request)",
        f"{fmt_ns(fig['rows_p50'])} / {fmt_ns(fig['rows_p99'])}")
    row(f"cold p50 / p99, world prepared (`World.prepare`, {fmt_ns(fig['prepare_ns'])})",
        f"{fmt_ns(fig['cold_prepared_p50'])} / {fmt_ns(fig['cold_prepared_p99'])}")
    row("warm p50 (Zipf repeats)", fmt_ns(e_warm.p(.5)) + e_warm.note(), fmt_ns(ref["warm"].p(.5)) if ref else na,
        fmt_ns(ced["warm_whole"].p(.5)) if ced else na, fmt_ns(ced["warm_sliced"].p(.5)) if ced else na)
    row("warm p99", fmt_ns(e_warm.p(.99)) + e_warm.note(), fmt_ns(ref["warm"].p(.99)) if ref else na,
        fmt_ns(ced["warm_whole"].p(.99)) if ced else na, fmt_ns(ced["warm_sliced"].p(.99)) if ced else na)
    row("repeated-request throughput", fmt_rate(fig["repeated_rate"]) + " (decision cache)", fmt_rate(1e9 / ref["warm"].mean()) if ref else na,
        fmt_rate(1e9 / ced["warm_whole"].mean()) if ced else na,
        fmt_rate(1e9 / ced["warm_sliced"].mean()) if ced else na, "≥ 500,000/s")
    row(f"batch throughput (check_many, {args.chunk} a call)",
        fmt_rate(batch_rate) + (f" (sampled {batch_n} of {n_cold})" if batch_n < n_cold else ""),
        fmt_rate(1e9 / ref["cold"].mean()) + " (one by one)" if ref else na,
        fmt_rate(ced["batch_rate"]) + " (is_authorized_batch)" if ced else na, na, "≥ 50,000/s")
    if par_rate:
        row(f"batch throughput, {args.jobs} processes", fmt_rate(par_rate))
    row("who-can (1 action × 1 resource × all principals)", fmt_ns(t_who) + who_label, target="≤ 1 s")
    if fig.get("who_can_analysis_ns"):
        row("who-can, `analysis.who_can` (also named principals and sessions)", fmt_ns(fig["who_can_analysis_ns"]),
            target="≤ 1 s")
    if fig.get("diff_ns"):
        row("diff: one resource policy statement widened to one more account (`analysis.diff`, every "
            "principal, action and resource of the scope)", f"{fmt_ns(fig['diff_ns'])} ({fig['diff_changes']} change(s))")
    if fig.get("diff_group_ns"):
        row("diff: a user put in one more group (`analysis.diff`, as above)",
            f"{fmt_ns(fig['diff_group_ns'])} ({fig['diff_group_changes']} change(s))")
    row(f"access matrix ({cells:,} decisions)",
        f"{fmt_ns(t_matrix)} ({fig['matrix_sample_principals']} principals decided by `iamlogic batch`"
        f"{', ' + str(args.jobs) + ' processes' if args.jobs > 1 else ''}, extrapolated; reading and writing "
        f"the lines alone: {fmt_ns(fig['matrix_io_ns'])})",
        target="≤ 60 s on 2 cores (M)")
    row("access matrix, one line a principal (a product of its actions and resources)",
        f"{fmt_ns(fig['matrix_product_ns'])} (the same principals, extrapolated)", target="≤ 60 s on 2 cores (M)")
    print(f"\n## {args.size}: {fig['world']['statements']:,} statements, {fig['world']['principals']:,} principals, "
          f"{args.requests:,} requests\n")
    print("| figure | iamlogic (compiled rules) | reference (plain Python) | cedarpy, whole set | cedarpy, sliced | "
          "target (issue 6, M) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    contended = " (below 100 %: other processes competed for the CPU)" if e_cold.cpu_share < 0.9 else ""
    print(f"\nMachine: {os.cpu_count()} CPUs; iamlogic cold figure ran with {e_cold.share()}{contended}; "
          f"load average {os.getloadavg()[0]:.1f} at the end.")
    if ced:
        print(f"\nCedar: {fig['cedar_policies']:,} policies; answers compared on the {ced['subset']:,} requests of the "
              "Cedar subset (times are over every request).")
    print("\nRatios (cold p50; > 1 means iamlogic is slower):")
    e50 = e_cold.p(.5)
    if ref:
        print(f"  iamlogic / reference:            {e50 / ref['cold'].p(.5):,.2f}×")
    if ced:
        print(f"  iamlogic / cedarpy sliced:       {e50 / ced['sliced'].p(.5):,.2f}×   (target ≤ 1/3)")
        print(f"  iamlogic / cedarpy whole set:    {e50 / ced['whole'].p(.5):,.3f}×   (target ≤ 1/100)")
        print(f"  cedarpy whole / cedarpy sliced:  {ced['whole'].p(.5) / ced['sliced'].p(.5):,.1f}×")
        if ref:
            print(f"  cedarpy sliced / reference:      {ced['sliced'].p(.5) / ref['cold'].p(.5):,.1f}×")
    print(f"  iamlogic cold p50 / target 25 µs: {e50 / 25_000:,.0f}×")
    print(f"  iamlogic batch / target 50,000/s: 1/{50_000 / batch_rate:,.0f}")


if __name__ == "__main__":
    sys.exit(main())
