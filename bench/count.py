"""Machine instructions a decision costs, counted by valgrind: a figure the machine's load does not move.

    python bench/count.py                      # every mix of world M
    python bench/count.py --mix rows --size S

Wall times on a shared machine swing by 2x from one run to the next; an instruction count does
not. Each mix runs in a process of its own under valgrind's callgrind tool, which counts only
inside ``functools.reduce``: the loop over the requests is the one call of it, so loading the
world, building the requests and reading the answers are not counted (the product never calls
``reduce``). Printed for each mix: instructions a request, and the MD5 of the decisions, deciding
statements, missing keys and warnings, to show that a change kept the answers.

Mixes (the first 900 requests after the first of the bench's unique mix, or 2,000 rows):

- ``pass1``: cold ``World.check``, the world as loaded;
- ``pass2``: the same requests again after ``Evaluator.forget`` (the decisions and the solver's
  tree forgotten, what the world keeps warm);
- ``rows``: a new S3 object each request, drawn from the first 20 callers of ``s3:GetObject`` or
  ``s3:PutObject`` in the unique mix, after 300 such requests (a service that checks rows).

A request costs the same count, to about 0.1 %, whatever the heap's layout (``--pad`` moves it).
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIXES = ("pass1", "pass2", "rows")


def _requests(mix: str, world, reqs: list) -> list:
    if mix == "pass1":
        return reqs[1:901]
    if mix == "pass2":
        for r in reqs[1:]:
            world.check(*r)
        world.evaluator().forget()
        return reqs[1:901]
    rnd = random.Random(1)
    base = [r for r in reqs if r[1] in ("s3:GetObject", "s3:PutObject")][:20]
    rows = []
    for i in range(2300):
        p, a, res, c = rnd.choice(base)
        rows.append((p, a, f"{res.split('/')[0]}/rows/{i}.json", c))
    for r in rows[:300]:
        world.check(*r)
    return rows[300:]


def inner(mix: str, size: str, pad: int) -> None:
    """The counted run: loads the world, then decides the mix's requests inside functools.reduce."""
    sys.path.insert(0, str(HERE))
    kept = [bytearray(pad * 64 + 1) for _ in range(1000)]  # moves the heap's layout (--pad)
    from worlds import generate, unique_requests

    from iamlogic import World

    gen = generate(size, 42)
    reqs = unique_requests(gen, 1000)
    world = World(gen.model)
    world.check(*reqs[0])
    world.evaluator()
    gc.collect()
    gc.freeze()
    gc.disable()
    todo = _requests(mix, world, reqs)
    out: list = []
    functools.reduce(lambda _, r: out.append(world.check(*r)), todo, None)
    h = hashlib.md5()
    for d in out:
        h.update(repr((d.decision, [str(s) for s in d.statements], d.missing_context, d.warnings)).encode())
    print(f"requests {len(todo)} md5 {h.hexdigest()}")
    del kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--mix", choices=MIXES, action="append", help="a mix to count (default: every mix)")
    ap.add_argument("--size", default="M", help="world size (default M)")
    ap.add_argument("--pad", type=int, default=0, help="bytes (x64) allocated first, to move the heap's layout")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args.inner, args.size, args.pad)
        return 0
    if shutil.which("valgrind") is None:
        print("count.py needs valgrind (apt install valgrind)", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONHASHSEED": "0", "IAMLOGIC_NO_CACHE": "1"}
    for mix in args.mix or MIXES:
        run = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce",
                              "--callgrind-out-file=/dev/null", sys.executable, __file__, "--inner", mix,
                              "--size", args.size, "--pad", str(args.pad)],
                             capture_output=True, text=True, env=env)
        said = re.search(r"requests (\d+) md5 ([0-9a-f]{32})", run.stdout)
        counted = re.search(r"Collected\s*:\s*([\d,]+)", run.stderr)
        if run.returncode or not said or not counted:
            print(f"{mix}: the counted run failed (exit {run.returncode}):\n{run.stdout}{run.stderr[-2000:]}",
                  file=sys.stderr)
            return 1
        n = int(said.group(1))
        print(f"{args.size} {mix}: {int(counted.group(1).replace(',', '')) // n:,} instructions a request "
              f"({n} requests; answers md5 {said.group(2)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
