"""The merger screen's request checks and ranking in the API (no worker): candidates listed from the data, refusals
naming what is at fault, the wire models' columns kept equal to the core's rows, and the ranking's re-sorting and CSV."""

from __future__ import annotations

import csv
import io
import typing

import numpy as np
import pandas as pd
import pytest

import blp
from blp.post import screening
from blp.spec.results import MergerMarket, MergerProduct, RankedCandidate, SortColumn
from jobstore.problems import ProblemDetails
from service.merger_screen import MergerScreenRequest, candidates_of, ranked, ranking_csv

PRODUCTS = pd.DataFrame({'market_ids': ['a', 'a', 'a', 'b', 'b', 'b'], 'firm_ids': ['F1', 'F2', 'F3', 'F1', 'F4', 'F4'],
                         'product_ids': ['p1', 'p2', 'p3', 'p1', 'p4', 'p5'], 'prices': [1.0] * 6})


def test_the_default_candidates_are_the_pairs_of_firms_that_meet_in_a_market():
    assert candidates_of(PRODUCTS, MergerScreenRequest()) == [['F1', 'F2'], ['F1', 'F3'], ['F1', 'F4'], ['F2', 'F3']]
    assert candidates_of(PRODUCTS, MergerScreenRequest(markets=['b'])) == [['F1', 'F4']]
    given = MergerScreenRequest(candidates=[['F2', 'F4', 'F2']])
    assert candidates_of(PRODUCTS, given) == [['F2', 'F4']]


@pytest.mark.parametrize(('body', 'field', 'named'), [
    ({'candidates': [['F1', 'F9']]}, 'candidates', ('firms', ['F9'])),
    ({'candidates': [['F1', 'F1']]}, 'candidates[0]', None),
    ({'markets': ['z']}, 'markets', ('markets', ['z'])),
    ({'ssnip': {'groups': [['p1', 'p9']]}}, 'ssnip.groups', ('products', ['p9'])),
])
def test_bad_requests_are_refused_naming_what_is_at_fault(body, field, named):
    with pytest.raises(ProblemDetails) as raised:
        candidates_of(PRODUCTS, MergerScreenRequest(**body))
    assert raised.value.status == 422 and raised.value.fields['field'] == field
    if named is not None:
        assert raised.value.fields[named[0]] == named[1]


def test_the_ranking_has_the_cores_summary_columns_and_sorts_by_its_numbers(products):
    frame = products[products['market_ids'].isin(['C01Q1', 'C01Q2'])].reset_index(drop=True)
    results = blp.Problem(blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), frame).solve(
        method='1s', optimization=blp.Optimization('return'))
    outcome = screening.screen_merger(screening.MarketsToday.from_results(results), ('F1', 'F2'))
    summary = screening.merger_summary(outcome)
    # the wire models declare every column the core writes (they ignore undeclared ones: nothing may be dropped)
    assert set(RankedCandidate.model_fields) == set(summary) | {'rank', 'candidate_index', 'counterfactual'}
    assert set(MergerMarket.model_fields) == set(screening.merger_markets(outcome)[0])
    assert set(MergerProduct.model_fields) == set(screening.merger_products(outcome)[0])
    numbers = {key for key, value in summary.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert set(typing.get_args(SortColumn)) == numbers - {'credit'}
    rows = [{**summary, 'candidate': name, 'guppi_max': value, 'counterfactual': {}}
            for name, value in (('a', 0.2), ('b', None), ('c', 0.5))]
    assert [row['candidate'] for row in ranked(rows, 'guppi_max', 'desc')] == ['c', 'a', 'b']
    lines = list(csv.DictReader(io.StringIO(ranking_csv(ranked(rows, 'guppi_max', 'asc')))))
    assert [line['candidate'] for line in lines] == ['a', 'c', 'b'] and lines[2]['guppi_max'] == ''
    assert lines[0]['firms'] == 'F1+F2' and 'counterfactual' not in lines[0]
    assert np.isclose(float(lines[0]['consumer_surplus_change']), summary['consumer_surplus_change'])
