"""The emulated image, built once per session from the Dockerfile (a fresh venv and `pip install .`: a minute or two).

The tests here are marked `deploy` (slow; the image emulation wants root for its network namespace): `make
test-deploy` runs them, and CI does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
from dockerfile_emulation import Image, build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def image() -> Iterator[Image]:
    built = build(ROOT)
    yield built
    shutil.rmtree(built.root, ignore_errors=True)
