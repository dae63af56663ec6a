"""`blp.options.verbose` (on by default, as PyBLP's) prints PyBLP's progress log of `solve` to stdout (issue 24):
the same status lines in the same order, the iteration table with PyBLP's header, one row per objective evaluation
with the same columns, then the results' summary; nothing with `verbose` off. Against PyBLP 1.3.0 live on Nevo's
cereal data in 10 markets, three L-BFGS-B iterations: a few seconds. Times and the contraction's counts differ by
nature (our contraction starts elsewhere): the structure is compared, and the objective and theta per row."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blp

pyblp = pytest.importorskip('pyblp')

NUMBER = re.compile(r'[+-]\d\.\d+E[+-]\d+')


def solve(library: Any, method: str = '1s') -> Any:
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    agents = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    markets = products['market_ids'].unique()[:10]
    products, agents = (frame[frame['market_ids'].isin(markets)] for frame in (products, agents))
    library.options.verbose = False
    formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'), library.Formulation('1 + prices'))
    problem = library.Problem(formulations, products, library.Formulation('0 + income'), agents)
    library.options.verbose = True
    try:
        return problem.solve(np.diag([0.5, 2.0]), [[1.0], [2.0]], method=method,
                             optimization=library.Optimization('l-bfgs-b', {'maxiter': 3}))
    finally:
        library.options.verbose = False


def logged(library: Any, capsys: pytest.CaptureFixture, method: str = '1s') -> list[str]:
    capsys.readouterr()
    solve(library, method)
    return capsys.readouterr().out.splitlines()


def log_part(lines: list[str]) -> list[str]:
    """From the optimization's start to the results' summary (PyBLP also prints the starting values and bounds)."""
    start = lines.index('Starting optimization ...')
    return lines[start:len(lines) - lines[::-1].index('Problem Results Summary:') - 1]


def status_lines(lines: list[str]) -> list[str]:
    """The lines that are not rows of the table, times masked, the message of a failed optimization to its first
    words (ours names the optimizer's reason)."""
    failed = 'The optimization routine failed to converge'
    return [failed if line.startswith(failed) else re.sub(r'\d\d:\d\d:\d\d', 'HH:MM:SS', line) for line in lines
            if not NUMBER.search(line)]


def rows(lines: list[str]) -> list[list[str]]:
    return [NUMBER.findall(line) for line in lines if NUMBER.search(line)]


@pytest.mark.parametrize('method', ['1s', '2s'])
def test_the_log_has_pyblps_lines_header_and_rows(capsys: pytest.CaptureFixture, method: str) -> None:
    ours, theirs = (logged(library, capsys, method) for library in (blp, pyblp))
    assert ours[0] == theirs[theirs.index('Solving the problem ...')] == 'Solving the problem ...'
    mine, their = log_part(ours), log_part(theirs)
    if method == '2s':  # after the first step PyBLP computes the Hessian and prints that step's results; we do not
        update = their.index('Computing the Hessian and updating the weighting matrix ...')
        their[update] = 'Updating the weighting matrix ...'
        summary = their.index('Problem Results Summary:')
        their = their[:summary] + their[their.index('Starting optimization ...', summary):]
    assert status_lines(mine) == status_lines(their)
    header = [line for line in theirs if line.startswith('GMM   Computation')]
    assert header and [line for line in ours if line.startswith('GMM   Computation')] == header
    our_rows, their_rows = rows(mine), rows(their)
    assert len(our_rows) == len(their_rows) > 3
    for row, reference in zip(our_rows, their_rows):
        assert len(row) == len(reference)
        np.testing.assert_allclose([float(value) for value in row], [float(value) for value in reference], rtol=1e-5)
    assert 'Problem Results Summary:' in ours and 'Nonlinear Coefficient Estimates (Robust SEs in Parentheses):' in ours


def test_verbose_off_prints_nothing_and_digits_shape_the_rows(capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    blp.options.verbose = False
    formulations = (blp.Formulation('0 + prices', absorb='C(product_ids)'), blp.Formulation('1 + prices'))
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    products = products[products['market_ids'].isin(products['market_ids'].unique()[:5])]
    problem = blp.Problem(formulations, products, integration=blp.Integration('product', 2))
    problem.solve(np.diag([0.5, 2.0]), optimization=blp.Optimization('l-bfgs-b', {'maxiter': 2}))
    assert capsys.readouterr().out == ''
    digits = blp.options.digits
    blp.options.digits, blp.options.verbose = 3, True
    try:
        problem.solve(np.diag([0.5, 2.0]), optimization=blp.Optimization('l-bfgs-b', {'maxiter': 2}))
    finally:
        blp.options.digits, blp.options.verbose = digits, False
    table = [line for line in capsys.readouterr().out.splitlines() if re.search(r'[+-]\d\.\d\dE[+-]\d\d, ', line)]
    assert table and not NUMBER.search(re.sub(r'[+-]\d\.\d\dE[+-]\d\d', '', table[0]))


@pytest.mark.parametrize('supply', [False, True], ids=['demand', 'supply'])
def test_initializing_a_problem_prints_pyblps_lines_and_summary(capsys: pytest.CaptureFixture, supply: bool) -> None:
    products = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    products = products[products['market_ids'].isin(products['market_ids'].unique()[:5])]
    printed = []
    for library in (blp, pyblp):
        formulations = (library.Formulation('0 + prices', absorb='C(product_ids)'), library.Formulation('1 + prices'))
        if supply:
            formulations += (library.Formulation('0 + sugar', absorb='C(quarter)'),)
        capsys.readouterr()
        library.options.verbose = True
        try:
            library.Problem(formulations, products, integration=library.Integration('product', 2))
        finally:
            library.options.verbose = False
        printed.append(re.sub(r'\d\d:\d\d:\d\d', 'HH:MM:SS', capsys.readouterr().out))
    assert printed[0] == printed[1]
    assert 'Absorbing demand-side fixed effects ...' in printed[0] and 'Dimensions:' in printed[0]
