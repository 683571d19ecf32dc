"""Smoke test: the web load benchmark runs end to end (tiny settings) and ends with its ratio line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "web_load.py"
LAST_LINE = re.compile(
    r"^dashboard_vs_reference=(?P<d>\S+) batches_page_vs_reference=(?P<p>\S+) "
    r"batches_api_vs_reference=(?P<a>\S+)$"
)


def test_web_load_benchmark_quick_prints_the_ratio_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--batches", "150", "--seconds", "0.5", "--clients", "5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, f"unexpected last line: {lines[-1]!r}"
    assert all(float(match[k]) > 0 for k in ("d", "p", "a"))
    assert any(line.startswith("| dashboard |") for line in lines)
    assert any(line.startswith("| batch list (page) |") for line in lines)
