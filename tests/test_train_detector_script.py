"""scripts/train_detector.py: flags that contradict each other stop before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import train_detector  # noqa: E402


@pytest.mark.parametrize("flags, message", [
    (["--heldout-guard", "--whole-world"], "choose one"),
    (["--finish-only"], "--finish-only needs --init"),
])
def test_contradicting_flags_are_a_usage_error(monkeypatch, capsys, flags, message):
    monkeypatch.setattr(sys, "argv", ["train_detector.py", *flags])
    with pytest.raises(SystemExit) as exc:
        train_detector.main()
    assert exc.value.code == 2 and message in capsys.readouterr().err
