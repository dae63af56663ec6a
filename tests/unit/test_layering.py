"""The dependency picture: service -> jobstore <- worker, worker -> blp, service -> blp.spec; the core and the store
import no web or queue framework, the worker never loads the HTTP package nor the service the worker, and the wire
format (blp.spec, imported by the API process) loads no numerics.

Each check imports every module of the packages it names, one after the other in a fresh interpreter: a package's
`__init__` may load nothing (blp's is lazy), the modules do the work. The modules are found on disk (pkgutil), so a
new one is checked without editing this file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Prints {module: top-level packages that importing it loaded first}, importing every module of the packages given.
IMPORT_EVERY_MODULE = '''
import importlib, importlib.util, json, os, pkgutil, sys

def modules(package):
    names = [package]
    def walk(path, prefix):
        for info in sorted(pkgutil.iter_modules([path]), key=lambda info: info.name):
            names.append(prefix + info.name)
            if info.ispkg:
                walk(os.path.join(path, info.name), prefix + info.name + '.')
    for path in importlib.util.find_spec(package).submodule_search_locations:
        walk(path, package + '.')
    return names

def top_level():
    return {name.partition('.')[0] for name in sys.modules}

loaded = {}
for package in sys.argv[1:]:
    for name in modules(package):
        before = top_level()
        importlib.import_module(name)
        loaded[name] = sorted(top_level() - before)
print(json.dumps(loaded))
'''


def loaded_by(*packages: str) -> dict[str, set[str]]:
    """For each module of `packages`, the top-level packages a fresh interpreter first loaded when importing it."""
    output = subprocess.run([sys.executable, '-c', IMPORT_EVERY_MODULE, *packages], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout
    return {module: set(names) for module, names in json.loads(output).items()}


def offenders(loaded: dict[str, set[str]], forbidden: set[str]) -> dict[str, list[str]]:
    """The modules whose import loaded a forbidden package, with those packages."""
    return {module: sorted(names & forbidden) for module, names in loaded.items() if names & forbidden}


def test_worker_does_not_import_the_http_package():
    loaded = loaded_by('worker')
    assert {'worker.tasks', 'worker.multistart'} <= set(loaded)
    assert not offenders(loaded, {'service', 'fastapi', 'starlette'}), offenders(loaded, {'service', 'fastapi', 'starlette'})


def test_job_store_imports_neither_web_framework_nor_worker():
    loaded = loaded_by('jobstore')
    assert {'jobstore.store', 'jobstore.fanout', 'jobstore.problems', 'jobstore.settings', 'jobstore.codec',
            'jobstore.tasks'} <= set(loaded)
    forbidden = {'service', 'worker', 'fastapi', 'starlette', 'celery'}
    assert not offenders(loaded, forbidden), offenders(loaded, forbidden)


def test_core_imports_no_service_machinery():
    loaded = loaded_by('blp')
    assert {'blp.estimation.problem', 'blp.estimation.estimator', 'blp.estimation.multistart', 'blp.post.postestimation',
            'blp.post.bootstrap', 'blp.spec', 'blp.micro.from_spec'} <= set(loaded)
    assert 'scipy' in set().union(*loaded.values()), 'the core modules were imported (they load scipy)'
    forbidden = {'service', 'worker', 'jobstore', 'fastapi', 'starlette', 'redis', 'celery'}
    assert not offenders(loaded, forbidden), offenders(loaded, forbidden)


def test_the_wire_format_loads_no_numerics():
    """The API imports blp.spec in its own process, which must not pay for numpy, scipy or pandas."""
    loaded = loaded_by('blp.spec')
    assert {'blp.spec', 'blp.spec.micro'} <= set(loaded)
    forbidden = {'numpy', 'scipy', 'pandas'}
    assert not offenders(loaded, forbidden), offenders(loaded, forbidden)


def test_service_does_not_import_the_worker():
    loaded = loaded_by('service')
    assert not offenders(loaded, {'worker'}), offenders(loaded, {'worker'})


def test_the_client_loads_none_of_the_service_nor_the_numerics():
    """blp_client reads results with the service's own wire models (blp.spec.results), not with the service."""
    loaded = loaded_by('blp_client')
    assert {'blp_client.results', 'blp_client.errors'} <= set(loaded)
    assert 'blp' in set().union(*loaded.values()), 'the client imports the shared wire models'
    forbidden = {'service', 'worker', 'jobstore', 'fastapi', 'starlette', 'celery', 'redis', 'scipy', 'numba'}
    assert not offenders(loaded, forbidden), offenders(loaded, forbidden)
