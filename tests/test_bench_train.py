"""benchmarks/bench_train.py runs: the host-time section with its cache control, and section 4's clean skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_train.py"), "--quick", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_host_time_section_prints_both_batches_the_ratio_and_the_cache_control():
    out = _run("--only", "2")
    assert "batch    8:" in out and "batch  128:" in out
    assert "host time ratio batch 128 / batch 8:" in out
    control = next(line for line in out.splitlines() if line.startswith("control:"))
    assert "batch 8" in control and "batch 128" in control and control.rstrip().endswith("caches alone)")


def test_comparison_section_skips_cleanly_without_transfusion_pytorch():
    try:
        import transfusion_pytorch  # noqa: F401
    except ImportError:
        assert "skipped: transfusion-pytorch is not installed" in _run("--only", "4")
    else:
        pytest.skip("transfusion-pytorch is installed here: the skip path cannot be exercised")
