"""The folders a benchmark imports from, for a benchmark run as `python bench/NAME.py` (the commands in the Makefile,
README.md and each benchmark's docstring): the ones pytest gets from pyproject.toml (`pythonpath`), read from there
so that the benchmarks and the tests import the same modules. They are the repository (`examples` is not an
installed package), tests/reference's workloads and tests/support's process helpers; `tests` itself cannot be a
package, as pyblp installs one of that name.

A benchmark imports this module before those (`import _paths`: its leading underscore sorts it first among them).
This folder stays first on sys.path, so a benchmark's own modules win.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

with open(ROOT / 'pyproject.toml', 'rb') as file:
    FOLDERS = [str(ROOT / folder) for folder in tomllib.load(file)['tool']['pytest']['ini_options']['pythonpath']]

sys.path[1:1] = [folder for folder in FOLDERS if folder not in sys.path]
