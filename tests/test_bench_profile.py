"""The benchmarks' profile report names the product's functions, wherever the checkout is
(CI clones it into a folder of its own; the benchmarks run from clones beside the work)."""

from __future__ import annotations

import cProfile
import time

import pytest

from bench import common
from engine import validators


def test_the_profile_report_finds_the_products_functions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(200):
        validators.normalize_cpf("529.982.247-25")
    profiler.disable()

    report = common.profile_report(profiler, 200, "chamada", show=("libraries", "product"))

    out = capsys.readouterr().out
    assert "engine/validators.py:" in out and "normalize_cpf" in out
    assert "engine/ (produto)" in out  # own time counted as the product's, by library
    assert report is not None


def test_product_files_are_this_checkouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_PRODUCT", "/tmp/bh/")
    assert common._category("/tmp/bh/engine/runtime.py", "load") == "engine/ (produto)"
    assert common._category("/tmp/bh/web/api.py", "submit_task") == "web/ (produto)"
    # Another checkout's files (one named main, as CI's is) are not this one's.
    assert common._category("/work/main/engine/runtime.py", "load") == "outros"
