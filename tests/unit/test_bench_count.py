"""bench/count.py's counted run (the part valgrind runs): it decides each mix, and a world's kept
answers do not change them."""

import re
import subprocess
import sys
from pathlib import Path

COUNT = Path(__file__).resolve().parents[2] / "bench" / "count.py"


def _run(mix: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, str(COUNT), "--inner", mix, "--size", "XS"], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    m = re.fullmatch(r"requests (\d+) md5 ([0-9a-f]{32})\n", out)
    assert m, out
    return int(m.group(1)), m.group(2)


def test_the_counted_mixes_decide_and_a_second_pass_answers_as_the_first():
    first = _run("pass1")
    assert first[0] == 900 and _run("pass2") == first
    assert _run("rows")[0] == 2000
