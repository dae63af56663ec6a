"""`Fixed Point Iterations` and `Contraction Evaluations` (`cumulative_fp_iterations`,
`cumulative_contraction_evaluations`) count what PyBLP counts: the contraction's major iterations (a SQUAREM cycle of
three evaluations, or each evaluation of the simple iteration) and its evaluations, summed over markets and the
objective's evaluations.

Checked on PyBLP's tutorial problems (Nevo's cereal with Monte Carlo agents and with demographics, SQUAREM and the
simple iteration; BLP's automobiles with a supply side and an initial update) at their starting values
(`Optimization('return')`): there both run the same contractions from the same deltas, so the counts are equal, with
`atol` 1e-10. Where a market's last change falls within rounding of `atol`, the two libraries' roundings decide
whether it stops an evaluation earlier or later: at PyBLP's default 1e-14, a few units in the last place of delta,
Nevo's problem took 751 iterations and 2322 evaluations against PyBLP's 752 and 2331 (equal at 1e-10 and 1e-12); at
1e-12 one market of the Monte Carlo problem stopped one evaluation before PyBLP's (5251 against 5252). Over an
optimization the counts differ more (blp warm-starts each contraction from the last delta moved by d delta / d theta,
PyBLP from the step's first delta, and the optimizers' paths differ): `docs/coming-from-pyblp.md` says so.

PyBLP's counts are stored in `fixtures/fixed_point_iterations.json` (the four take PyBLP about 30 s); `make
test-live` re-runs PyBLP. Regenerate: `PYTHONPATH=. python tests/reference/test_fixed_point_iterations.py`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

import numpy as np  # noqa: E402 - after the thread pins
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import blp  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / 'fixtures' / 'fixed_point_iterations.json'
ATOL = 1e-10  # not PyBLP's default 1e-14, where rounding decides the last cycle (above)
NEVO_SIGMA = np.diag([0.3302, 2.4526, 0.0163, 0.2441])
NEVO_PI = np.array([[5.4819, 0, 0.2037, 0], [15.8935, -1.2, 0, 2.6342], [-0.2506, 0, 0.0511, 0],
                    [1.2650, 0, -0.8091, 0]])


def _nevo(library: Any, agents: bool) -> Any:
    forms = (library.Formulation('0 + prices', absorb='C(product_ids)'),
             library.Formulation('1 + prices + sugar + mushy'))
    products = pd.read_csv(library.data.NEVO_PRODUCTS_LOCATION)
    if not agents:
        integration = library.Integration('monte_carlo', size=50, specification_options={'seed': 0})
        return library.Problem(forms, products, integration=integration)
    return library.Problem(forms, products, library.Formulation('0 + income + income_squared + age + child'),
                           pd.read_csv(library.data.NEVO_AGENTS_LOCATION))


def _blp(library: Any) -> Any:
    forms = (library.Formulation('1 + hpwt + air + mpd + space'),
             library.Formulation('1 + prices + hpwt + air + mpd + space'),
             library.Formulation('1 + log(hpwt) + air + log(mpg) + log(space) + trend'))
    return library.Problem(forms, pd.read_csv(library.data.BLP_PRODUCTS_LOCATION),
                           library.Formulation('0 + I(1 / income)'), pd.read_csv(library.data.BLP_AGENTS_LOCATION),
                           costs_type='log')


def _fixed(library: Any, method: str = 'squarem') -> dict[str, Any]:
    return dict(optimization=library.Optimization('return'), iteration=library.Iteration(method, {'atol': ATOL}))


# The tutorials' problems and starting values (tutorial/nevo cells 11 and 15, tutorial/blp cell 8), not optimized.
CASES: dict[str, Callable[[Any], Any]] = {
    'nevo_monte_carlo_two_steps': lambda library: _nevo(library, False).solve(sigma=np.eye(4), **_fixed(library)),
    'nevo_demographics': lambda library: _nevo(library, True).solve(NEVO_SIGMA, NEVO_PI, method='1s',
                                                                    **_fixed(library)),
    'nevo_demographics_simple': lambda library: _nevo(library, True).solve(NEVO_SIGMA, NEVO_PI, method='1s',
                                                                           **_fixed(library, 'simple')),
    'blp_supply_initial_update': lambda library: _blp(library).solve(
        np.diag([3.612, 0, 4.628, 1.818, 1.050, 2.056]), np.c_[[0, -43.501, 0, 0, 0, 0]],
        costs_bounds=(0.001, None), W_type='clustered', se_type='clustered', initial_update=True, **_fixed(library)),
}


def counts(library: Any, name: str) -> dict[str, int]:
    saved = library.options.verbose
    library.options.verbose = False
    try:
        results = CASES[name](library)
    finally:
        library.options.verbose = saved
    return {'fp_iterations': int(np.sum(results.cumulative_fp_iterations)),
            'contraction_evaluations': int(np.sum(results.cumulative_contraction_evaluations))}


@pytest.mark.parametrize('name', sorted(CASES))
def test_counts_are_pyblps_stored(name: str) -> None:
    stored = json.loads(FIXTURE.read_text())
    expected = {key: stored[name][key] for key in ('fp_iterations', 'contraction_evaluations')}
    assert counts(blp, name) == expected


@pytest.mark.live
@pytest.mark.parametrize('name', sorted(CASES))
def test_counts_are_pyblps_run_now(name: str) -> None:
    import pyblp
    theirs = counts(pyblp, name)
    assert counts(blp, name) == theirs
    stored = json.loads(FIXTURE.read_text())[name]
    assert {key: stored[key] for key in theirs} == theirs


def test_the_hessians_contractions_are_not_counted() -> None:
    """PyBLP counts the contractions of the objective's evaluations, not of the Hessian's finite differences."""
    problem = _nevo(blp, True)
    solved = [problem.solve(NEVO_SIGMA, NEVO_PI, method='1s', check_optimality=check, **_fixed(blp))
              for check in ('gradient', 'both')]
    assert np.isfinite(solved[1].hessian).all() and not np.isfinite(solved[0].hessian).any()
    assert [(r.cumulative_fp_iterations, r.cumulative_contraction_evaluations) for r in solved] == \
        [(solved[0].cumulative_fp_iterations, solved[0].cumulative_contraction_evaluations)] * 2


def test_print_shows_the_fixed_point_iterations_beside_the_contraction_evaluations() -> None:
    shown = repr(CASES['nevo_demographics'](blp))
    stored = json.loads(FIXTURE.read_text())['nevo_demographics']
    header = next(line for line in shown.splitlines() if 'Iterations' in line and 'Evaluations' in line)
    assert header.split()[-2:] == ['Iterations', 'Evaluations']
    values = shown.splitlines()[shown.splitlines().index(header) + 2].split()
    assert values[-2:] == [str(stored['fp_iterations']), str(stored['contraction_evaluations'])]


if __name__ == '__main__':
    import pyblp
    names = sys.argv[1:] or sorted(CASES)
    fixture = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
    for name in names:
        fixture[name] = {**counts(pyblp, name), 'pyblp_version': pyblp.__version__}
        print(name, fixture[name], flush=True)
    FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=True) + '\n')
