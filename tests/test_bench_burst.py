"""The burst benchmark's load tool (bench/burst.py) works end to end, briefly: a real
``chamados serve`` (granian), a real scheduler delivering to an SMTP sink, requesters arriving
in open loop and analysts resolving from the queue; the figures it reports match the database.

It measures nothing (the machine is shared): it proves the tool counts what it claims to,
so a benchmark run's "0 errors, protocols unique, one receipt each" can be trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import burst, common


def test_config_names_parse() -> None:
    assert burst.Config.parse("3") == burst.Config("3", 3, 1)
    threaded = burst.Config.parse("2x4")
    assert (threaded.workers, threaded.threads) == (2, 4)
    assert threaded.serve_args == ["--threads", "4"]
    for wrong in ("sync2", "0", "2x", "x4", "2x0", "2x4x1"):
        with pytest.raises(Exception, match="inválida"):
            burst.Config.parse(wrong)


def test_unchunk_reads_a_chunked_body() -> None:
    assert burst._unchunk(b"4\r\nabcd\r\n3;x=1\r\nefg\r\n0\r\n\r\n") == b"abcdefg"


def test_a_short_burst_is_counted_as_the_database_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "latest.json")
    backend = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    # 1,500 per 5 minutes = 5 per second, for 3 s: 15 requesters, 3 analysts.
    out = burst.main(
        [
            "--levels",
            "1500",
            "--minutes",
            str(3 / 60),
            "--warmup",
            "0.5",
            "--analysts",
            "3",
            "--analyst-pause",
            "0.2",
            "--backend",
            backend,
        ]
    )
    (result,) = out["results"]
    (level,) = result["levels"]
    assert level["arrivals"] == 15
    assert level["errors"] == 0, level["error_kinds"]
    assert level["sent"] == 15
    assert set(level["per_call"]) >= {"criar", "enviar", "fila"}
    db = out["database"]
    # warm-up (1) + the level (15): every ticket created, sent, numbered once, one receipt.
    assert db["chamados"] == db["sent"] == 16
    assert db["protocols_distinct"] == db["answers_protocols_distinct"] == 16
    assert db["receipts"] == db["receipt_tickets"] == 16
    assert db["sent_without_receipt"] == 0
    assert level["cpu"]["machine_cores"] > 0
    assert all(v > 0 for k, v in level["rss_mb_end"].items() if k.startswith("worker"))
    # The verdict is honest about what was measured: not 32,000 in 5 minutes.
    (v,) = out["verdicts"]
    assert not v["met"] and "não 32.000" in v["line"]
