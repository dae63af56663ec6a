"""Where the emulated containers talk: a network namespace of their own (root: the compose file's exact ports, and
its service names resolving through /etc/netns/NAME/hosts, which `ip netns exec` mounts over /etc/hosts), or, where
namespaces are not allowed, loopback with free ports substituted into the commands and REDIS_URL."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from processes import free_port

CLONE_NEWNET = 0x40000000
REDIS_PORT, API_PORT = 6379, 8000


def as_user(argv: list[str], uid: Optional[int], gid: Optional[int]) -> list[str]:
    """Run as the image's user (uid and gid, no supplementary groups), still killed if the test run dies."""
    if not uid or os.geteuid() != 0:
        return argv
    return ['setpriv', f'--reuid={uid}', f'--regid={gid}', '--clear-groups', '--pdeathsig=KILL', '--', *argv]


class Namespace:
    """A network namespace made for one test session, with loopback up and the services' names on 127.0.0.1."""

    described = 'a network namespace of its own (ports and hostnames exactly as in docker-compose.yml)'

    def __init__(self, services: list[str]) -> None:
        self.name = f'blp-deploy-{os.getpid()}'
        self.etc = Path('/etc/netns') / self.name
        subprocess.run(['ip', 'netns', 'add', self.name], check=True, capture_output=True)
        try:
            subprocess.run(['ip', '-n', self.name, 'link', 'set', 'lo', 'up'], check=True, capture_output=True)
            self.etc.mkdir(parents=True)
            (self.etc / 'hosts').write_text(f'127.0.0.1 localhost {" ".join(services)}\n')
        except Exception:
            self.close()
            raise

    @staticmethod
    def allowed() -> bool:
        probe = f'blp-deploy-probe-{os.getpid()}'
        if os.geteuid() != 0 or not shutil.which('ip') or not shutil.which('setpriv'):
            return False
        if subprocess.run(['ip', 'netns', 'add', probe], capture_output=True).returncode:
            return False
        subprocess.run(['ip', 'netns', 'delete', probe], capture_output=True)
        return True

    def argv(self, argv: list[str], uid: Optional[int] = None, gid: Optional[int] = None) -> list[str]:
        return ['ip', 'netns', 'exec', self.name, *as_user(argv, uid, gid)]

    def translate(self, text: str) -> str:
        return text

    @contextmanager
    def entered(self) -> Iterator[None]:
        """This thread's sockets in the namespace (setns is per thread), so the test's client reaches its ports."""
        libc = ctypes.CDLL(None, use_errno=True)
        with open('/proc/thread-self/ns/net') as home, open(f'/run/netns/{self.name}') as target:
            if libc.setns(target.fileno(), CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), 'setns into the test namespace failed')
            try:
                yield
            finally:
                if libc.setns(home.fileno(), CLONE_NEWNET):
                    raise OSError(ctypes.get_errno(), 'setns back to the host namespace failed')

    def close(self) -> None:
        subprocess.run(['ip', 'netns', 'delete', self.name], capture_output=True)
        shutil.rmtree(self.etc, ignore_errors=True)


class Loopback:
    """The host's loopback: free ports stand in for 6379 and 8000, and `redis` in URLs becomes 127.0.0.1."""

    described = 'loopback with free ports (no network namespace here): commands and REDIS_URL rewritten'

    def __init__(self, services: list[str]) -> None:
        self.ports = {REDIS_PORT: free_port(), API_PORT: free_port()}

    def argv(self, argv: list[str], uid: Optional[int] = None, gid: Optional[int] = None) -> list[str]:
        argv = [self.translate(word) for word in argv]
        for index, word in enumerate(argv[:-1]):
            if word == '--port' and argv[index + 1].isdigit():
                argv[index + 1] = str(self.ports.get(int(argv[index + 1]), argv[index + 1]))
        if argv[0] == 'redis-server' and '--port' not in argv:
            argv += ['--port', str(self.ports[REDIS_PORT])]
        if argv[0] == 'redis-cli':
            argv[1:1] = ['-p', str(self.ports[REDIS_PORT])]
        return as_user(argv, uid, gid)

    def translate(self, text: str) -> str:
        """URLs: redis:6379 and 127.0.0.1:8000 (any host) to their stand-in ports on 127.0.0.1."""
        text = re.sub(r'//redis:6379\b', f'//127.0.0.1:{self.ports[REDIS_PORT]}', text)
        return re.sub(rf':{API_PORT}\b', f':{self.ports[API_PORT]}', text)

    @contextmanager
    def entered(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass
