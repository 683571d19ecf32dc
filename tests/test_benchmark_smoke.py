"""Smoke test: the population benchmark runs end to end (``--quick``) and ends with its summary line."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pbpk_population.py"
LAST_LINE = re.compile(
    r"^speedup_vs_scipy=(?P<x>\S+) speedup_vs_roadrunner=(?P<y>\S+) max_rel_err=(?P<z>\S+)$"
)


def test_population_benchmark_quick_prints_the_summary_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, f"unexpected last line: {lines[-1]!r}"
    x, z = float(match["x"]), float(match["z"])
    y = float(match["y"])  # nan when libroadrunner is not installed
    assert x > 1.0  # the batched solver beats a per-subject scipy loop even at --quick sizes
    assert math.isnan(y) or y > 0.0
    assert 0.0 <= z < 1e-3
    assert any(line.startswith("| numba Rodas4") for line in lines)
    assert any("cold start" in line for line in lines)
