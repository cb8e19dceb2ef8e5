"""SIGHUP sent to a real ``omnirelay serve`` process: the rules file is read again without a
restart, and a broken file leaves the last good rules in use."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_KEY
from tests.delivery.test_processes import free_port

CONFIG = Path(__file__).resolve().parents[3] / "config"
AUTH = ("admin", "test-password")


def _start(tmp_path: Path, rules: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    port = free_port()
    environment = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sighup.db'}",
        "ENCRYPTION_KEY": TEST_KEY,
        "BASIC_AUTH_USERNAME": AUTH[0],
        "BASIC_AUTH_PASSWORD": AUTH[1],
        "OMNIRELAY_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "RULES_FILE": str(rules),
        "RULES_TEMPLATES_DIR": str(CONFIG / "templates"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "omnirelay.cli", "serve", "--port", str(port), "--no-worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    process.wait()
    return None  # the port was taken by a parallel test process, or it did not start


def _version(url: str) -> str:
    response = httpx.get(f"{url}/admin/v1/messaging/rules", auth=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["version"])


def _until_changed(url: str, old: str) -> str:
    deadline = time.monotonic() + 20
    while (version := _version(url)) == old and time.monotonic() < deadline:
        time.sleep(0.1)
    return version


def test_sighup_reloads_the_rules_and_a_broken_file_keeps_the_last_good_ones(
    tmp_path: Path,
) -> None:
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'sighup.db'}", "ENCRYPTION_KEY": TEST_KEY}
    upgraded = subprocess.run(
        [sys.executable, "-m", "omnirelay.cli", "db", "upgrade"],
        env=os.environ | database,
        capture_output=True,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    rules = tmp_path / "rules.yaml"
    shutil.copy(CONFIG / "rules.yaml", rules)
    started = next((s for s in (_start(tmp_path, rules) for _ in range(5)) if s), None)
    assert started is not None, "omnirelay serve did not start"
    process, url = started
    try:
        first = _version(url)
        rules.write_text(rules.read_text() + "\n# edited\n")
        process.send_signal(signal.SIGHUP)
        second = _until_changed(url, first)
        assert second != first
        rules.write_text("rules: [{name: broken")
        process.send_signal(signal.SIGHUP)
        time.sleep(1)  # a reload that fails changes nothing there is to wait for
        assert process.poll() is None  # still serving
        assert _version(url) == second
    finally:
        process.terminate()
        process.wait(timeout=30)
