"""Run PyBLP's documentation notebooks cell by cell, on `blp` or on PyBLP itself, and compare the numbers they print.

The notebooks are `../shared/pyblp-notebooks/{api,tutorial}/*.ipynb` beside the repository (CI clones the repository
next to a copy of `shared/`; `BLP_SHARED` overrides the location). Each notebook's code cells run in order in one
namespace, as Jupyter's "run all" does, with exactly these changes:

- `import pyblp` becomes `import blp as pyblp` (on the `blp` side only; that is the port being tested);
- `matplotlib`, `matplotlib.pyplot`, `IPython` and `IPython.display` are stub modules whose every attribute is a
  no-op callable (installed only for the run, on both sides, whether or not the real packages are installed);
- IPython line magics (`%matplotlib inline`, the only one the notebooks use) are no-ops, as they are not Python.

Per cell the harness records what the cell printed to stdout and, as Jupyter would display it, the repr of the value
of the cell's last expression statement (none when the cell's last line ends with `;`, or the value is None). A cell
that raises is recorded with the exception's type and message and, as in Jupyter, stops the notebook (unless
`keep_going`, which the report uses to list more of the missing names).

Numbers are compared as text: every number of a cell's output (stdout, then the display), in order, on both sides,
must agree to a relative 1e-4 (`RTOL`). Not compared, because they are not properties of the model but of the run
(`mask`): clock times (`00:00:08`), memory addresses (`0x7f...`), the displayed `pyblp.__version__` (the library's
own version), and in PyBLP's fixed-width tables the columns named in `NOT_COMPARED_COLUMNS` (computation time,
iteration and evaluation counts, and the gradient norm where the optimizer stopped: below its tolerance, otherwise noise).

Regenerate PyBLP's side (the fixtures, a few minutes per tutorial): `python tests/port/generate_port_fixtures.py [name ...]`.
Print the status of every notebook on `blp`: `python tests/port/report.py` (`--help` for options).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import math
import os
import re
import sys
import time
import traceback
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get('BLP_SHARED', ROOT.parent / 'shared'))
NOTEBOOKS = SHARED / 'pyblp-notebooks'
FIXTURES = Path(__file__).resolve().parent / 'fixtures'

RTOL = 1e-4
ATOL = 1e-12

# PyBLP's own import, and what replaces it on the blp side: the only change made to the notebooks' code.
IMPORT = re.compile(r'\bimport pyblp\b')
RENAMED = 'import blp as pyblp'


# --- the notebooks ----------------------------------------------------------------------------------------------

def notebook_names() -> list[str]:
    """Every notebook as `folder/name` (`api/formulation`, `tutorial/nevo`), sorted."""
    return sorted(str(path.relative_to(NOTEBOOKS).with_suffix('')) for path in NOTEBOOKS.glob('*/*.ipynb'))


def code_cells(name: str) -> list[str]:
    """The source of each code cell of a notebook, in order."""
    notebook = json.loads((NOTEBOOKS / f'{name}.ipynb').read_text(encoding='utf-8'))
    cells = []
    for cell in notebook['cells']:
        if cell['cell_type'] == 'code':
            source = cell['source']
            cells.append(source if isinstance(source, str) else ''.join(source))
    return cells


def port(source: str) -> str:
    """A cell as a PyBLP user ports it: the import renamed, nothing else."""
    return IMPORT.sub(RENAMED, source)


# --- running cells ---------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """What one code cell did: `status` is 'ok', 'error' or 'not run' (after an earlier error)."""

    index: int  # 1-based among the notebook's code cells
    source: str
    status: str = 'not run'
    stdout: str = ''
    display: Optional[str] = None
    error: Optional[str] = None  # 'TypeName: message'
    seconds: float = 0.0
    version_display: bool = False  # the cell displays the library's version (not compared)
    traceback: Optional[str] = None

    @property
    def first_line(self) -> str:
        return next((line for line in self.source.splitlines() if line.strip()), '')


@dataclass
class Run:
    name: str
    library: str  # 'blp' or 'pyblp'
    cells: list[Cell] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return all(cell.status == 'ok' for cell in self.cells)

    @property
    def first_failure(self) -> Optional[Cell]:
        return next((cell for cell in self.cells if cell.status == 'error'), None)

    def to_json(self) -> dict:
        return {'name': self.name, 'library': self.library, 'seconds': round(self.seconds, 1),
                'cells': [asdict(cell) for cell in self.cells]}


class _Stub(types.ModuleType):
    """A module whose every attribute is a no-op callable; calling it, or what it returns, gives the stub back."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def __iter__(self) -> Iterator[Any]:  # `fig, ax = plt.subplots()`
        return iter((self, self))


STUBBED = ('matplotlib', 'matplotlib.pyplot', 'IPython', 'IPython.display')


@contextlib.contextmanager
def stubs() -> Iterator[None]:
    """Plotting and IPython display stubbed for the duration of a run; sys.modules restored afterwards."""
    saved = {name: sys.modules.get(name) for name in STUBBED}
    modules = {name: _Stub(name) for name in STUBBED}
    modules['matplotlib'].pyplot = modules['matplotlib.pyplot']  # type: ignore[attr-defined]
    modules['IPython'].display = modules['IPython.display']  # type: ignore[attr-defined]
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# numpy's print options in a fresh interpreter (a notebook starts from them as in a fresh kernel).
NUMPY_PRINT_DEFAULTS = dict(edgeitems=3, threshold=1000, floatmode='maxprec', precision=8, suppress=False, linewidth=75,
                            nanstr='nan', infstr='inf', sign='-', formatter=None, legacy=False)


@contextlib.contextmanager
def fresh_state(library: str) -> Iterator[None]:
    """A notebook starts as in a fresh kernel and leaves no state behind for the next notebook or test: numpy's print
    options (`np.set_printoptions(precision=3)`) start from their defaults and are restored, the library's `options`
    (`pyblp.options.digits = 2`) are restored after the run."""
    import numpy as np
    printoptions = np.get_printoptions()
    options = getattr(importlib.import_module(library), 'options', None)
    saved = {key: value for key, value in vars(options).items() if not key.startswith('_')} if options is not None else {}
    np.set_printoptions(**NUMPY_PRINT_DEFAULTS)
    try:
        yield
    finally:
        np.set_printoptions(**{key: value for key, value in printoptions.items() if key in NUMPY_PRINT_DEFAULTS})
        for key, value in saved.items():
            setattr(options, key, value)


def _without_magics(source: str) -> str:
    """IPython line magics (`%matplotlib inline`) as no-ops: Jupyter runs them, Python cannot parse them."""
    return '\n'.join('pass' if line.lstrip().startswith('%') else line for line in source.splitlines())


def _run_cell(cell: Cell, code: str, namespace: dict) -> None:
    """Execute one cell's code in the namespace; record stdout and the display of its last expression."""
    stdout = io.StringIO()
    start = time.perf_counter()
    try:
        tree = ast.parse(_without_magics(code), filename=f'<cell {cell.index}>')
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = tree.body[:-1] if last is not None else tree.body
        with contextlib.redirect_stdout(stdout):
            exec(compile(ast.Module(body=body, type_ignores=[]), f'<cell {cell.index}>', 'exec'), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), f'<cell {cell.index}>', 'eval'), namespace)
                if value is not None and not code.rstrip().endswith(';'):  # a trailing `;` hides the value
                    cell.display = repr(value)
                    cell.version_display = ast.unparse(last.value) == 'pyblp.__version__'
        cell.status = 'ok'
    except Exception as exception:  # any failure of the cell is its result
        cell.status = 'error'
        lines = str(exception).strip().splitlines()
        cell.error = ADDRESS.sub('0x...', type(exception).__name__ + (f': {lines[0]}' if lines else ''))
        cell.traceback = traceback.format_exc()
    finally:
        cell.seconds = time.perf_counter() - start
        cell.stdout = stdout.getvalue()


def run_notebook(name: str, library: str = 'blp', keep_going: bool = False, cells: Optional[int] = None) -> Run:
    """Run a notebook's code cells in order on `blp` (the import renamed) or on `pyblp` (as written).

    Stops at the first error as Jupyter's "run all" does, unless `keep_going`; `cells` limits how many cells run.
    """
    assert library in ('blp', 'pyblp')
    sources = code_cells(name)[:cells]
    run = Run(name, library, [Cell(index, source) for index, source in enumerate(sources, start=1)])
    namespace: dict = {'__name__': '__main__', '__builtins__': __builtins__}
    start = time.perf_counter()
    with stubs(), fresh_state(library), threadpool_limits(limits=1):  # as the fixtures ran: BLAS on one thread
        for cell in run.cells:
            _run_cell(cell, port(cell.source) if library == 'blp' else cell.source, namespace)
            if cell.status == 'error' and not keep_going:
                break
    run.seconds = time.perf_counter() - start
    return run


# --- the fixtures ----------------------------------------------------------------------------------------------

def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name.replace('/', '__')}.json"


def load_fixture(name: str) -> dict:
    """PyBLP's stored run of a notebook: per cell its source, stdout and display (text only)."""
    return json.loads(fixture_path(name).read_text(encoding='utf-8'))


def fixture_of(run: Run, version: str) -> dict:
    """The text a fixture keeps of a PyBLP run."""
    return {
        'notebook': run.name,
        'pyblp_version': version,
        'seconds': round(run.seconds, 1),
        'cells': [{'index': cell.index, 'source': cell.source, 'status': cell.status, 'error': cell.error,
                   'stdout': cell.stdout, 'display': cell.display, 'version_display': cell.version_display,
                   'seconds': round(cell.seconds, 2)} for cell in run.cells],
    }


# --- comparing numbers -----------------------------------------------------------------------------------------

NUMBER = re.compile(r'(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])')
CLOCK = re.compile(r'\b\d+:\d{2}:\d{2}(?:\.\d+)?\b')
ADDRESS = re.compile(r'\b0x[0-9a-fA-F]+\b')

# Columns of PyBLP's fixed-width tables whose numbers describe the run, not the model: blanked on both sides.
NOT_COMPARED_COLUMNS = (
    'Computation Time',
    'Optimization Iterations',
    'Objective Evaluations',
    'Fixed Point Iterations',
    'Contraction Evaluations',
    'Gradient Norm',
    'Projected Gradient Norm',
)


def _column_spans(rule: str) -> list[tuple[int, int]]:
    """The character spans of a table's columns from its rule line (`----  ---------  --------`)."""
    return [(match.start(), match.end()) for match in re.finditer(r'-+', rule)]


def _mask_tables(text: str) -> str:
    """Blank the NOT_COMPARED_COLUMNS in every fixed-width table: the header lines above a rule of dashes name the
    columns; the rows below it, up to the table's closing line of `=`, hold their values."""
    lines = text.split('\n')
    for number, rule in enumerate(lines):
        if not re.fullmatch(r'\s*-+(?:\s+-+)+\s*', rule):
            continue
        header_start = number
        while header_start > 0 and lines[header_start - 1].strip() and not set(lines[header_start - 1].strip()) <= {'='}:
            header_start -= 1
        for start, end in _column_spans(rule):
            label = ' '.join(' '.join(line[start:end].split()) for line in lines[header_start:number]).strip()
            label = ' '.join(label.split())
            if label not in NOT_COMPARED_COLUMNS:
                continue
            row = number + 1
            while row < len(lines) and lines[row].strip() and not set(lines[row].strip()) <= {'='}:
                line = lines[row]
                lines[row] = line[:start] + ' ' * max(0, min(end, len(line)) - start) + line[end:]
                row += 1
    return '\n'.join(lines)


def mask(text: str) -> str:
    """The text with the numbers that are not compared blanked out."""
    blank = lambda match: ' ' * len(match.group())  # noqa: E731 - columns keep their places
    return ADDRESS.sub(blank, CLOCK.sub(blank, _mask_tables(text)))


def numbers(text: str) -> list[str]:
    """Every number of a text (integers, decimals, scientific notation) in order, after `mask`."""
    return NUMBER.findall(mask(text))


def cell_numbers(stdout: str, display: Optional[str], version_display: bool = False) -> list[str]:
    """The compared numbers of a cell: what it printed, then what it displayed (not the library's version)."""
    return numbers(stdout) + ([] if display is None or version_display else numbers(display))


# Numbers PyBLP itself does not reproduce at its printed precision from one run to the next (its fixtures ran with
# single-threaded BLAS, PyBLP run now with the default threads differed there): by notebook, cell and position among
# the cell's compared numbers (1-based, as the comparison's messages count), skipped on every side. Ill-conditioned
# quantities all: more may show up on other machines, and `make test-live` names them.
PYBLP_UNSTABLE: dict[str, dict[int, dict[int, str]]] = {
    'tutorial/nevo': {
        10: {  # sigma started at ones on the product rule: the model is not identified (covariance condition ~1e21)
            7: 'Covariance Matrix Condition Number, +3.2E+21 (+3.5E+21 run again)',
            31: 'SE of Sigma Squared (prices, prices), +2.0E+02 (+1.9E+02)',
            43: 'SE of Sigma (sugar, sugar) at -3.0E-09, +7.3E+02 (+7.4E+02)',
            57: 'SE of Sigma (mushy, prices) at +4.6E-07, +3.5E+03 (+3.4E+03)',
        },
        15: {3: 'Hessian Min Eigenvalue, +2.2E-05 of a largest +1.6E+04 (+2.1E-05)'},
    },
    'tutorial/petrin': {
        # finite differences of a gradient whose contractions stop at atol 1e-13: at one theta near the estimate
        # PyBLP's own smallest eigenvalue moved from 0.414 to 0.400 when its starting delta moved by 1e-6 (blp's
        # 0.414 from the same start); PyBLP 1.2.0's stored run of the notebook printed +2.4E-01
        15: {3: 'Hessian Min Eigenvalue, +3.6E-01 of a largest +1.3E+03 (+4.0E-01 from another start)'},
    },
    'tutorial/post_estimation': {
        3: {3: 'Hessian Min Eigenvalue, +2.2E-05 of a largest +1.6E+04 (+2.1E-05)'},
        34: {3: 'Hessian Min Eigenvalue where the optimizer did not converge, +1.5E-03 (+2.0E-03)'},
    },
}


def agree(ours: str, theirs: str) -> bool:
    a, b = float(ours), float(theirs)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + ATOL


@dataclass
class Difference:
    cell: int
    position: int  # among the cell's compared numbers
    ours: Optional[str]
    theirs: Optional[str]
    library: str = 'blp'

    def __str__(self) -> str:
        ours = 'blp' if self.library == 'blp' else 'PyBLP now'
        return f"cell {self.cell} number {self.position + 1}: {ours} {self.ours or 'none'}, PyBLP {self.theirs or 'none'}"


@dataclass
class Comparison:
    """A notebook's run on blp against PyBLP's fixture."""

    name: str
    cells: int  # code cells in the notebook
    ran: int  # cells that ran without error on blp
    first_failure: Optional[Cell]
    compared: int = 0  # numbers compared (of the cells both sides ran)
    skipped: int = 0  # numbers of PYBLP_UNSTABLE not compared
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.first_failure is None and self.ran == self.cells and not self.differences

    @property
    def failure(self) -> str:
        """The first reason the notebook does not port: the failing cell and its error, or the first difference."""
        if self.first_failure is not None:
            error = self.first_failure.error or ''
            return f"cell {self.first_failure.index}: {error if len(error) <= 100 else error[:97] + '...'}"
        if self.differences:
            return f'{len(self.differences)} of {self.compared} numbers differ, first {self.differences[0]}'
        return ''


def compare(run: Run, fixture: dict) -> Comparison:
    """Every number of every cell that ran against the same cell's numbers in PyBLP's fixture (but PYBLP_UNSTABLE)."""
    comparison = Comparison(run.name, len(fixture['cells']), sum(cell.status == 'ok' for cell in run.cells),
                            run.first_failure, seconds=run.seconds)
    unstable = PYBLP_UNSTABLE.get(run.name, {})
    for cell, reference in zip(run.cells, fixture['cells']):
        if cell.status != 'ok' or reference['status'] != 'ok':
            continue
        ours = cell_numbers(cell.stdout, cell.display, cell.version_display)
        theirs = cell_numbers(reference['stdout'], reference['display'], reference['version_display'])
        for position in range(max(len(ours), len(theirs))):
            if position + 1 in unstable.get(cell.index, {}):
                comparison.skipped += 1
                continue
            comparison.compared += 1
            a = ours[position] if position < len(ours) else None
            b = theirs[position] if position < len(theirs) else None
            if a is None or b is None or not agree(a, b):
                comparison.differences.append(Difference(cell.index, position, a, b, run.library))
    return comparison
