"""docker-compose.yml as Compose itself resolves it (`docker-compose config`, Debian's package, no daemon needed):
anchors merged, `${VAR:-default}` expanded, so the emulation runs the commands and environment Compose would give."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

INSTALL_HINT = 'docker-compose is not installed (Debian: apt-get install docker-compose; .ci/run does)'


def docker_compose() -> str:
    found = shutil.which('docker-compose')
    assert found, INSTALL_HINT
    return found


def compose_run(context: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    """`docker-compose ARGUMENTS` in the project directory, with only PATH and `env` set (no stray .env values)."""
    environment = {'PATH': os.environ['PATH'], **env}
    return subprocess.run([docker_compose(), '--project-directory', str(context), '-f', str(context / 'docker-compose.yml'),
                           *arguments], cwd=context, env=environment, capture_output=True, text=True, timeout=60)


def resolved(context: Path, **env: str) -> dict:
    """The compose file after Compose's own interpolation and merging, as a dict."""
    done = compose_run(context, 'config', **env)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def healthcheck_argv(service: dict) -> list[str]:
    """A healthcheck's `test` as a command line (`CMD` form only: `CMD-SHELL` would need the image's shell)."""
    test = service['healthcheck']['test']
    assert test[0] == 'CMD', f'healthcheck {test}: only the CMD form is emulated'
    return list(test[1:])
