"""The production entry point refuses to start when it would not work as users expect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "DATABASE_URL"))}
    base.update(INSTANCE_DIR=str(tmp_path), SECRET_KEY="x", **env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run(tmp_path, ["-c", "import web.wsgi"], **env)


def test_refuses_without_an_openid_provider(tmp_path: Path) -> None:
    result = start(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.returncode == 3
    assert "OIDC_ISSUER não configurado" in result.stderr


def test_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    result = start(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OIDC_ISSUER="https://sso.staging.acesso.gov.br/",
    )
    assert result.returncode == 3
    assert "chamados db upgrade" in result.stderr


def test_a_started_worker_keeps_its_start_up_objects_out_of_the_collector(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "OIDC_ISSUER": "https://sso.staging.acesso.gov.br/",
    }
    upgraded = run(tmp_path, ["-m", "web.cli", "db", "upgrade"], **env)
    assert upgraded.returncode == 0, upgraded.stderr
    frozen = run(tmp_path, ["-c", "import gc, web.wsgi; print(gc.get_freeze_count())"], **env)
    assert frozen.returncode == 0, frozen.stderr
    # The app and every module frozen (tens of thousands of objects), not a handful.
    assert int(frozen.stdout.split()[-1]) > 50_000
