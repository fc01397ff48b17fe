"""Real processes for tests: free ports, started commands with their logs, bounded waits,
and a stop that always happens (terminate, then kill), for use in fixture finalizers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice; released before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A started command; stdout and stderr go to ``log``."""

    name: str
    args: Sequence[str]
    log: Path
    popen: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return text[-tail:]

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        # INFO records (one per request) drown out the rest.
        lines = [
            line for line in self.output(tail=10**6).splitlines() if '"level": "INFO"' not in line
        ]
        return f"{self.name} (pid {self.pid}, {state}); last output:\n" + "\n".join(lines[-40:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a server's graceful stop), then SIGKILL; only this process and its group."""
        if self.popen.poll() is not None:
            return
        try:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The process leads its own group (start_new_session): its workers go too.
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=timeout)


def start(name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path, cwd: Path) -> Proc:
    log = log_dir / f"{name}.log"
    handle = log.open("wb")
    try:
        popen = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches its workers
        )
    finally:
        handle.close()  # the child has its own copy
    return Proc(name, list(args), log, popen)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.1,
    diagnose: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until true; fail with ``what`` (and a diagnosis) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def wait_http(proc: Proc, url: str, timeout: float) -> None:
    """Until ``url`` answers 200; fails at once if the process exits meanwhile."""

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.describe()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(up, timeout, f"{proc.name} at {url}", interval=0.1, diagnose=proc.describe)
