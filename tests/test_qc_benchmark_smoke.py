"""Smoke test: the QC throughput benchmark runs end to end (``--quick``) and ends with its summary line."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "qc_throughput.py"
LAST_LINE = re.compile(
    r"^cumulants_speedup=(?P<cum>\S+) inversion_speedup=(?P<inv>\S+) tem_speedup=(?P<tem>\S+)$"
)


def test_qc_throughput_quick_prints_one_line_per_metric_and_the_summary_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, f"unexpected last line: {lines[-1]!r}"
    cum, inv, tem = float(match["cum"]), float(match["inv"]), float(match["tem"])
    # the vectorised cumulant fit beats a curve_fit loop by far even on a loaded machine
    assert cum > 3.0
    assert inv > 0.0
    metrics = [line for line in lines if line.startswith("| DLS") or line.startswith("| TEM")]
    assert any(line.startswith("| DLS cumulants [correlograms/s]") for line in metrics)
    assert any(line.startswith("| DLS inversion") for line in metrics)
    if (BENCHMARKS / "_qc_tem_bench.py").is_file():
        assert tem > 0.0
        assert any(line.startswith("| TEM sizing [megapixels/s]") for line in metrics)
    else:
        assert math.isnan(tem)
        assert any(line.startswith("TEM sizing skipped") for line in lines)
    # the two cumulant implementations agree on the Z-average (same window, same model)
    row = next(line for line in metrics if line.startswith("| DLS cumulants"))
    z_diff = float(re.search(r"Z max diff ([\d.]+) %", row)[1])  # type: ignore[index]
    assert z_diff < 10.0
