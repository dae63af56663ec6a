"""Regenerate PyBLP's side of the port test: `python tests/port/generate_port_fixtures.py [folder/name ...]`.

Runs each notebook of `../shared/pyblp-notebooks` (all of them by default, or those named, e.g. `tutorial/nevo`) on
PyBLP 1.3.0 exactly as written, with plotting and IPython display stubbed as on the blp side (notebook_port.py), and
writes `fixtures/<folder>__<name>.json`: per code cell its source, status, printed text and displayed value (text
only), and the seconds PyBLP took. BLAS runs single-threaded, as in tests/reference. The tutorials take minutes each.
"""

from __future__ import annotations

import json
import os
import sys

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from notebook_port import FIXTURES, fixture_of, fixture_path, notebook_names, run_notebook  # noqa: E402 - after the thread pins, before numpy loads

PYBLP_VERSION = '1.3.0'


def generate(name: str) -> dict:
    """PyBLP's run of one notebook as a fixture; every cell must run (the notebooks are PyBLP's own)."""
    import pyblp
    assert pyblp.__version__ == PYBLP_VERSION, f'PyBLP {pyblp.__version__} is installed; the oracle is {PYBLP_VERSION}'
    run = run_notebook(name, 'pyblp')
    failure = run.first_failure
    assert failure is None, f'{name}: PyBLP fails in cell {failure.index}: {failure.error}\n{failure.traceback}'
    return fixture_of(run, pyblp.__version__)


def write(name: str) -> None:
    fixture = generate(name)
    FIXTURES.mkdir(exist_ok=True)
    fixture_path(name).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    print(f"{name}: {len(fixture['cells'])} cells in {fixture['seconds']:.1f} s", flush=True)


if __name__ == '__main__':
    for name in sys.argv[1:] or notebook_names():
        write(name)
