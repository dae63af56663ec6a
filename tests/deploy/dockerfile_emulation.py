"""Builds the image's file system without Docker: the Dockerfile's own instructions, run against a temp directory.

The Dockerfile is read, not restated: its COPY lines decide which files reach the image's WORKDIR (minus what
.dockerignore drops), its ENV lines the environment, and its RUN lines run in order, with `pip` being a fresh
venv's pip (the image's Python). So a package left out of a COPY, or a dependency missing from pyproject.toml,
fails here as it would fail in the image. RUN commands this emulation does not know fail loudly instead of being
skipped; `useradd` is not run on the host: its uid becomes the uid the app processes run as.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Commands of a RUN line that can run on the host unchanged, inside the staged WORKDIR.
HARMLESS = {'mkdir', 'touch'}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str
    line: int


def instructions(dockerfile: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    result: list[Instruction] = []
    pending, start = '', 0
    for number, raw in enumerate(dockerfile.read_text().splitlines(), 1):
        text = raw.strip()
        if not pending and (not text or text.startswith('#')):
            continue
        if pending and text.startswith('#'):
            continue
        start = start or number
        if text.endswith('\\'):
            pending += text[:-1] + ' '
            continue
        keyword, _, argument = (pending + text).partition(' ')
        result.append(Instruction(keyword.upper(), argument.strip(), start))
        pending, start = '', 0
    return result


def exec_form(argument: str) -> list[str]:
    """CMD/ENTRYPOINT in JSON (exec) form, or shell form split like a shell would."""
    return json.loads(argument) if argument.startswith('[') else shlex.split(argument)


def env_pairs(argument: str) -> dict[str, str]:
    """`ENV A=1 B=2` (or the legacy `ENV A 1`)."""
    words = shlex.split(argument)
    if words and '=' not in words[0]:
        return {words[0]: ' '.join(words[1:])}
    return dict(word.split('=', 1) for word in words)


def ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore's patterns, the simple subset used here: `**/NAME` matches at any depth, others from the root."""
    parts = relative.split('/')
    for pattern in patterns:
        if pattern.startswith('**/'):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch('/'.join(parts[:depth]), pattern.rstrip('/')) for depth in range(1, len(parts) + 1)):
            return True
    return False


def dockerignore(context: Path) -> list[str]:
    path = context / '.dockerignore'
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith('#')]


def reachable_by_anyone(path: Path) -> bool:
    """Every directory above `path` lets others through (a non-root user can run what lies there)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)


def python_for_everyone(version: str) -> str:
    """The image's Python stands in as a Python `version` that its non-root user can run: this test's own (when it
    is not kept under /root, as pyenv's is) or the system's."""
    for candidate in (getattr(sys, '_base_executable', sys.executable), '/usr/local/bin/python3', '/usr/bin/python3'):
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run([candidate, '-c', 'import sys, sysconfig; print(sys.version.split()[0]); '
                                'print(sysconfig.get_paths()["stdlib"])'], capture_output=True, text=True)
        if probe.returncode:
            continue
        found, stdlib = probe.stdout.split()
        if found.startswith(version + '.') and reachable_by_anyone(Path(candidate)) and reachable_by_anyone(Path(stdlib)):
            return candidate
    raise AssertionError(f'no Python {version} here that a non-root user can run (the image runs as one)')


@dataclass
class Image:
    """The emulated image: its root (a temp dir), WORKDIR inside it, a venv standing in for its Python, its ENV,
    the user its processes run as, its CMD and EXPOSE, and every path COPY put into it."""

    context: Path
    root: Path
    workdir: Path = Path('/')
    env: dict[str, str] = field(default_factory=dict)
    user: str = 'root'
    uid: int = 0
    gid: int = 0
    cmd: list[str] = field(default_factory=list)
    exposed: list[int] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    base: str = ''
    log: list[str] = field(default_factory=list, repr=False)  # each RUN command and its output
    build_seconds: float = 0.0

    @property
    def venv(self) -> Path:
        return self.root / 'venv'

    @property
    def python(self) -> Path:
        return self.venv / 'bin' / 'python'

    @property
    def home(self) -> Path:
        return self.root / 'home' / self.user

    def inside(self, path: str) -> Path:
        """A path of the image (absolute, or relative to WORKDIR) in the emulation's directory."""
        return self.root / (Path(path) if path.startswith('/') else self.workdir / path).relative_to('/')

    @property
    def staged_workdir(self) -> Path:
        return self.inside(str(self.workdir))

    def environment(self, **extra: str) -> dict[str, str]:
        """What a process of the image sees: the image's ENV, PATH with its Python first, HOME of its user."""
        environment = {'PATH': f'{self.venv / "bin"}:/usr/local/bin:/usr/bin:/bin', 'HOME': str(self.home),
                       'LANG': 'C.UTF-8', **self.env, **extra}
        # The host's OpenBLAS workarounds for its processor (not the image's business, but needed on this host).
        environment.update({name: os.environ[name] for name in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
                            if name in os.environ})
        return environment

    def _copy(self, argument: str, patterns: list[str]) -> None:
        *sources, destination = shlex.split(argument)
        for source in sources:
            assert not source.startswith('--'), f'COPY flags are not emulated: {argument}'
            origin = (self.context / source).resolve()
            target = self.inside(destination)
            if origin.is_dir():
                for path in sorted(origin.rglob('*')):
                    relative = path.relative_to(self.context).as_posix()
                    if path.is_file() and not ignored(relative, patterns):
                        copy = target / path.relative_to(origin)
                        copy.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, copy)
            else:
                assert not ignored(source, patterns), f'COPY {source}: .dockerignore excludes it'
                copy = target / origin.name if destination.endswith('/') else target
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, copy)
            self.copied.append(source.rstrip('/'))

    def _run(self, argument: str, line: int) -> None:
        words = shlex.split(argument)
        commands: list[list[str]] = [[]]
        for word in words:
            if word == '&&':
                commands.append([])
            else:
                commands[-1].append(word)
        for command in commands:
            name = command[0]
            if name == 'groupadd':
                self.gid = int(command[command.index('--gid') + 1])
                continue
            if name == 'useradd':
                self._add_user(command)
                continue
            if name == 'pip':
                command = [str(self.python), '-m', 'pip', *command[1:]]
            elif name not in HARMLESS:
                raise AssertionError(f'Dockerfile line {line}: the image emulation cannot run `{name}`; teach '
                                     f'tests/deploy/dockerfile_emulation.py what it does')
            environment = {**os.environ, **self.env, 'PATH': f'{self.venv / "bin"}:{os.environ["PATH"]}'}
            done = subprocess.run(command, cwd=self.staged_workdir, env=environment, capture_output=True, text=True)
            self.log.append(f'$ {shlex.join(command)}\n{done.stdout}{done.stderr}')
            if done.returncode:
                raise AssertionError(f'Dockerfile line {line}: `{shlex.join(command)}` failed ({done.returncode}):\n'
                                     f'{done.stdout[-3000:]}{done.stderr[-3000:]}')

    def _add_user(self, command: list[str]) -> None:
        """`useradd --uid N --gid G ... NAME`: the app's processes will run as uid N and gid G, HOME made for them."""
        options = command[1:-1]
        self.user = command[-1]
        assert '--uid' in options and '--gid' in options, 'useradd without --uid and --gid: whom would the app run as?'
        self.uid = int(options[options.index('--uid') + 1])
        self.gid = int(options[options.index('--gid') + 1])
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.home, self.uid, self.gid)

    def build(self) -> 'Image':
        started = time.monotonic()
        patterns = dockerignore(self.context)
        for instruction in instructions(self.context / 'Dockerfile'):
            keyword, argument = instruction.keyword, instruction.argument
            if keyword == 'FROM':
                self.base = argument
                version = re.match(r'python:(\d+\.\d+)', argument)
                assert version, f'FROM {argument}: the emulation knows python:X.Y images only'
                subprocess.run([python_for_everyone(version.group(1)), '-m', 'venv', str(self.venv)], check=True)
            elif keyword == 'ENV':
                self.env.update(env_pairs(argument))
            elif keyword == 'WORKDIR':
                self.workdir = self.workdir / argument
                self.staged_workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == 'COPY':
                self._copy(argument, patterns)
            elif keyword == 'RUN':
                self._run(argument, instruction.line)
            elif keyword == 'USER':
                name, _, group = argument.partition(':')
                assert name in (self.user, str(self.uid)), f'USER {argument}: no such user was added'
                assert not group or group in (str(self.gid), self.user), f'USER {argument}: unknown group'
            elif keyword == 'CMD':
                self.cmd = exec_form(argument)
            elif keyword == 'EXPOSE':
                self.exposed += [int(port.split('/')[0]) for port in argument.split()]
            else:
                raise AssertionError(f'Dockerfile line {instruction.line}: {keyword} is not emulated')
        self.build_seconds = time.monotonic() - started
        return self


def build(context: Path) -> Image:
    """A fresh emulated image in a temp dir others can enter (the app runs as the image's non-root user)."""
    root = Path(tempfile.mkdtemp(prefix='blp-image-'))
    root.chmod(0o755)
    assert reachable_by_anyone(root / 'app'), f'{root}: the image\'s user could not enter it (set TMPDIR to /tmp)'
    return Image(context=context.resolve(), root=root).build()
