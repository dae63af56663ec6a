"""The production install, as the Dockerfile makes it: every module of the app imports from it, and everything the
code imports is a declared dependency. A dependency that only the test extra brought in (as `packaging` once was,
through pytest) or a package the Dockerfile does not copy fails here."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from dockerfile_emulation import Image
from packaging.markers import default_environment
from packaging.requirements import Requirement

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
# The packages that run in the image: the API, the worker, the job store, and the core they call.
APP_PACKAGES = ('service', 'worker', 'jobstore', 'blp')

IMPORT_EVERY_MODULE = '''
import importlib, json, pkgutil, sys, traceback
imported, failed = [], {}
for package in sys.argv[1:]:
    try:
        module = importlib.import_module(package)
    except Exception:
        failed[package] = traceback.format_exc(limit=-3)
        continue
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + '.'):
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception:
            failed[info.name] = traceback.format_exc(limit=-3)
print(json.dumps({'imported': imported, 'failed': failed, 'files': {name: getattr(sys.modules.get(name), '__file__', None)
                                                                      for name in imported}}))
'''


def module_names(directory: Path, package: str) -> set[str]:
    """Every module a package's files on disk define (what an import of each must find)."""
    names = set()
    for path in (directory / package).rglob('*.py'):
        parts = path.relative_to(directory).with_suffix('').parts
        names.add('.'.join(parts[:-1] if parts[-1] == '__init__' else parts))
    return names


def test_the_dockerfile_copies_every_app_package(image: Image) -> None:
    assert set(APP_PACKAGES) <= set(image.copied), f'the Dockerfile copies {image.copied}, the app needs {APP_PACKAGES}'
    assert 'pyproject.toml' in image.copied


def test_every_module_of_the_app_imports_from_the_production_install(image: Image) -> None:
    """With the image's environment and from its WORKDIR, as its CMD runs; no module may be missing or fail."""
    packages = [package for package in APP_PACKAGES if package in image.copied]
    done = subprocess.run([str(image.python), '-c', IMPORT_EVERY_MODULE, *packages], cwd=image.staged_workdir,
                          env=image.environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert not report['failed'], '\n'.join(f'{name}:\n{error}' for name, error in report['failed'].items())
    expected = set().union(*(module_names(ROOT, package) for package in packages))
    assert set(report['imported']) == expected
    # Imported from the image's files, not from the checkout the tests run in.
    outside = [name for name, file in report['files'].items() if file and not file.startswith(str(image.root))]
    assert not outside, f'imported from outside the image: {outside}'
    print(f'image emulated (fresh venv, the Dockerfile\'s RUN lines) in {image.build_seconds:.0f} s; '
          f'{len(report["imported"])} modules imported from it')


def imported_top_level_names(package: Path) -> dict[str, str]:
    """Top-level names of every absolute import in a package's files, at module level or inside functions alike
    (a lazy import the import test would not run), with one file that imports each."""
    names: dict[str, str] = {}
    for path in sorted(package.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                names.setdefault(module.split('.')[0], str(path.relative_to(package.parent)))
    return names


def installed_closure(site_packages: Path, project: str) -> dict[str, set[str]]:
    """Distributions the project's declared requirements bring in, transitively and with their extras, from the
    production venv's metadata, each with the top-level import names it provides."""
    distributions = {dist.metadata['Name'].lower().replace('_', '-'): dist
                     for dist in metadata.distributions(path=[str(site_packages)])}
    provided: dict[str, set[str]] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(requirement) for requirement in distributions[project].requires or []
               if Requirement(requirement).marker is None or Requirement(requirement).marker.evaluate({'extra': ''})]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower().replace('_', '-')
        dist = distributions.get(name)
        assert dist is not None, f'{requirement} is required but not installed'
        extras = set(requirement.extras)
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        provided.setdefault(name, set()).update(top_level_names(dist))
        for text in dist.requires or []:
            nested = Requirement(text)
            if nested.marker is None or any(nested.marker.evaluate({**default_environment(), 'extra': extra})
                                             for extra in extras | {''}):
                pending.append(nested)
    return provided


def top_level_names(dist: metadata.Distribution) -> set[str]:
    text = dist.read_text('top_level.txt')
    if text:
        return set(text.split())
    return {Path(str(file)).parts[0].removesuffix('.py') for file in dist.files or []
            if not str(file).startswith(('..', '__pycache__')) and '.dist-info' not in str(file)}


def test_every_third_party_import_is_a_declared_dependency(image: Image) -> None:
    site_packages = next((image.venv / 'lib').glob('python3.*/site-packages'))
    provided = installed_closure(site_packages, 'blp-service')
    importable = set().union(*provided.values())
    local = set(APP_PACKAGES)  # not blp_client: the image does not have it
    undeclared = {}
    for package in APP_PACKAGES:
        for name, where in imported_top_level_names(ROOT / package).items():
            if name not in sys.stdlib_module_names and name not in local and name not in importable:
                undeclared[name] = where
    assert not undeclared, f'imported but not a (transitive) dependency of pyproject.toml: {undeclared}'
    # The check sees real packages: the core's numerics and the worker's queue come from declared requirements.
    assert {'numpy', 'scipy', 'celery', 'kombu', 'redis', 'fastapi'} <= importable
