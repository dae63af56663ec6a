"""A catalogue of bad input: every case is a 4xx problem document that names the fault, and nothing is stored.

Each case sends one bad request for datasets, jobs or counterfactuals and checks, beyond its status:
the media type is `application/problem+json`, the body is strict JSON (no `NaN` or `Infinity` echoed back),
the extension members name the column, market, row, parameter or field at fault, and the Redis keys are
exactly those before the request: no dataset, job, index or idempotency entry was written half-way.
"""

from __future__ import annotations

import copy
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from api_support import LOGIT_SPEC, PRODUCT_COLUMNS, csv_bytes, parquet_bytes, succeed
from fastapi.testclient import TestClient

from examples import cereal
from jobstore.settings import Settings
from service.main import create_app

CATALOGUE_DB = 5
SMALL_BODY = 4000  # bytes: the limit of the client that checks 413
RC_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + prices'}],
                       'integration': {'specification': 'halton', 'size': 10}},
           'solve': {'sigma': [[1.0]], 'method': '1s'}}
# pi needs demographics: agent data given inline, with log_income.
PI_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 {'formula': '0 + prices'}],
                       'agent_formulation': {'formula': '0 + log_income'}},
           'solve': {'sigma': [[1.0]], 'pi': [[1.0]], 'method': '1s'}}


# A logit with a linear-cost supply side: the price coefficient is optimized over (beta), not concentrated out.
SUPPLY_SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                     None, {'formula': '1 + mushy'}]},
               'solve': {'beta': [-10.0], 'method': '1s'}}


def with_costs_formula(formula: str) -> dict:
    problem = SUPPLY_SPEC['problem']
    return {**SUPPLY_SPEC, 'problem': {**problem, 'product_formulations': [
        *problem['product_formulations'][:2], {'formula': formula}]}}


@dataclass
class Context:
    client: TestClient
    small: TestClient  # the same store, with a small body limit
    r: redis.Redis
    products: pd.DataFrame  # three markets of the cereal products
    agents: pd.DataFrame  # five agents per market of those three markets
    product_id: str  # stored, valid
    wide_shares_id: str  # stored; a share of 1.5 in row 3 (a dataset is generic: shares are checked per job)
    queued_job: str  # an estimate that no worker runs: it stays queued
    succeeded_job: str  # a logit estimate on the products, solved here as a worker would
    repeated_job: str  # the same on products whose rows 0 and 1 (market C01Q1) share a product id, as PyBLP allows


@pytest.fixture(scope='module')
def ctx(redis_url: str) -> Iterator[Context]:
    url = f'{redis_url}/{CATALOGUE_DB}'
    r = redis.Redis.from_url(url)
    r.flushdb()
    # Every case is a submission of the same (public) owner: a burst as large as the catalogue, so none is limited.
    client = TestClient(create_app(Settings(redis_url=url, submission_burst=10_000)), raise_server_exceptions=False)
    small = TestClient(create_app(Settings(redis_url=url, max_body_bytes=SMALL_BODY)), raise_server_exceptions=False)
    full = cereal.product_data('price')[PRODUCT_COLUMNS]
    products = full[full['market_ids'].isin(full['market_ids'].unique()[:3])].reset_index(drop=True)
    agents = cereal.agent_data(5)
    agents = agents[agents['market_ids'].isin(products['market_ids'].unique())].reset_index(drop=True)
    wide = products.copy()
    wide.loc[3, 'shares'] = 1.5

    def upload(frame: pd.DataFrame) -> str:
        response = client.post('/v1/datasets', content=csv_bytes(frame), headers={'Content-Type': 'text/csv'})
        assert response.status_code == 201, response.text
        return response.json()['id']

    product_id, wide_id = upload(products), upload(wide)
    job = client.post('/v1/jobs', json={'product_data': {'dataset_id': product_id}, 'spec': LOGIT_SPEC})
    assert job.status_code == 202, job.text
    done = client.post('/v1/jobs', json={'product_data': {'dataset_id': product_id}, 'spec': LOGIT_SPEC}).json()['id']
    succeed(client.app.state.store, done, products)
    repeated = products.assign(product_ids=products['product_ids'].where(products.index != 1, products.loc[0, 'product_ids']))
    repeated_job = client.post('/v1/jobs', json={'product_data': {'dataset_id': upload(repeated)}, 'spec': LOGIT_SPEC})
    assert repeated_job.status_code == 202, repeated_job.text
    succeed(client.app.state.store, repeated_job.json()['id'], repeated)
    yield Context(client, small, r, products, agents, product_id, wide_id, job.json()['id'], done,
                  repeated_job.json()['id'])
    client.close()
    small.close()
    r.flushdb()


def snapshot(r: redis.Redis) -> dict[bytes, Any]:
    """Every key with a digest of its value: what a request must leave unchanged (the owner's submission rate
    counts every attempt, refused ones too: that is its point)."""
    state = {}
    for key in r.scan_iter(count=1000):
        if key.startswith(b'blp:rate:'):
            continue
        kind = r.type(key)
        if kind == b'hash':
            state[key] = sorted(r.hgetall(key).items())
        elif kind in (b'set',):
            state[key] = sorted(r.smembers(key))
        elif kind == b'zset':
            state[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == b'list':
            state[key] = r.llen(key)
        else:
            state[key] = r.get(key)
    return state


# ------------------------------------------------------------------------------------------ request builders

def columns(frame: pd.DataFrame) -> dict[str, list]:
    return {name: frame[name].tolist() for name in frame.columns}


def post_csv(text: str) -> Callable[[Context], Any]:
    return lambda c: c.client.post('/v1/datasets', content=text.encode(), headers={'Content-Type': 'text/csv'})


def post_raw(body: bytes, content_type: Optional[str]) -> Callable[[Context], Any]:
    headers = {'Content-Type': content_type} if content_type else {}
    return lambda c: c.client.post('/v1/datasets', content=body, headers=headers)


def csv_with(column: str, row: int, cell: str) -> Callable[[Context], Any]:
    """The stored products as CSV with one cell replaced by raw text."""
    def send(c: Context) -> Any:
        frame = c.products.astype({column: object})
        frame.loc[row, column] = cell
        return c.client.post('/v1/datasets', content=csv_bytes(frame), headers={'Content-Type': 'text/csv'})
    return send


def job(spec: Any = LOGIT_SPEC, product: Optional[Callable[[Context], Any]] = None,
        agent: Optional[Callable[[Context], Any]] = None, **extra: Any) -> Callable[[Context], Any]:
    """POST /v1/jobs: products by the stored id unless `product(ctx)` gives inline data; `agent(ctx)` likewise."""
    def send(c: Context) -> Any:
        body = {'product_data': product(c) if product else {'dataset_id': c.product_id}, 'spec': spec, **extra}
        if agent:
            body['agent_data'] = agent(c)
        return c.client.post('/v1/jobs', json=body)
    return send


def inline_products(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Context], Any]:
    return lambda c: {'columns': columns(change(c.products.copy()))}


def inline_agents(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Context], Any]:
    return lambda c: {'columns': columns(change(c.agents.copy()))}


def raw_job(text: str) -> Callable[[Context], Any]:
    """A job body as raw text (to send the JSON tokens NaN and Infinity), `{product}` standing for the stored id."""
    return lambda c: c.client.post('/v1/jobs', content=text.replace('{product}', c.product_id).encode(),
                                   headers={'Content-Type': 'application/json'})


def with_formula(formula: str, spec: dict = LOGIT_SPEC, index: int = 0) -> dict:
    changed = copy.deepcopy(spec)
    changed['problem']['product_formulations'][index]['formula'] = formula
    return changed


def with_instruments(spec: dict = LOGIT_SPEC, **instruments: Any) -> dict:
    changed = copy.deepcopy(spec)
    changed['problem']['instruments'] = instruments
    return changed


def with_solve(spec: dict = RC_SPEC, **solve: Any) -> dict:
    changed = copy.deepcopy(spec)
    changed['solve'].update(solve)
    return changed


def with_problem(spec: dict, **problem: Any) -> dict:
    changed = copy.deepcopy(spec)
    changed['problem'].update(problem)
    return changed


def nested(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(nesting_ids=frame['mushy'])


def set_cell(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame
    return change


def first_market(frame: pd.DataFrame) -> str:
    return str(frame['market_ids'].iloc[0])


def truncated_parquet(c: Context) -> Any:
    return c.client.post('/v1/datasets', content=parquet_bytes(c.products)[:200],
                         headers={'Content-Type': 'application/vnd.apache.parquet'})


def nested_parquet(c: Context) -> Any:
    table = pa.table({'market_ids': ['a', 'b'], 'nodes': [[1.0, 2.0], [3.0]]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return c.client.post('/v1/datasets', content=sink.getvalue(), headers={'Content-Type': 'application/vnd.apache.parquet'})


def empty_parquet(c: Context) -> Any:
    return c.client.post('/v1/datasets', content=parquet_bytes(c.products.head(0)),
                         headers={'Content-Type': 'application/vnd.apache.parquet'})


def huge_upload(c: Context) -> Any:
    return c.small.post('/v1/datasets', content=csv_bytes(c.products), headers={'Content-Type': 'text/csv'})


def huge_streamed_upload(c: Context) -> Any:
    body = csv_bytes(c.products)
    chunks = (body[start:start + 1000] for start in range(0, len(body), 1000))  # no Content-Length
    return c.small.post('/v1/datasets', content=chunks, headers={'Content-Type': 'text/csv'})


def huge_job(c: Context) -> Any:
    return c.small.post('/v1/jobs', json={'product_data': {'columns': columns(c.products)}, 'spec': LOGIT_SPEC})


def counterfactual(body: dict, on: str = 'queued') -> Callable[[Context], Any]:
    def send(c: Context) -> Any:
        job_id = {'queued': c.queued_job, 'succeeded': c.succeeded_job, 'repeated': c.repeated_job}.get(on, on)
        return c.client.post(f'/v1/jobs/{job_id}/counterfactuals', json=body)
    return send


def child(path: str, body: dict, on: str = 'queued') -> Callable[[Context], Any]:
    """POST /v1/jobs/{job}/<path>: a job started from an estimate (the queued one unless `on` names another)."""
    def send(c: Context) -> Any:
        job_id = {'queued': c.queued_job, 'succeeded': c.succeeded_job}.get(on, on)
        return c.client.post(f'/v1/jobs/{job_id}/{path}', json=body)
    return send


def optimal_instruments(body: dict, on: str = 'queued') -> Callable[[Context], Any]:
    return child('optimal-instruments', body, on)


def get(path: str) -> Callable[[Context], Any]:
    return lambda c: c.client.get(path.replace('{job}', c.queued_job).replace('{product}', c.product_id))


# ------------------------------------------------------------------------------------------ the catalogue

@dataclass
class Case:
    send: Callable[[Context], Any]
    status: int
    names: Optional[Callable[[Context], dict]] = None  # extension members that must be present with these values
    detail: tuple[str, ...] = ()  # substrings of `detail`


def names(**fields: Any) -> Callable[[Context], dict]:
    return lambda c: {key: value(c) if callable(value) else value for key, value in fields.items()}


def MARKET0(c: Context) -> str:  # noqa: N802  (the market that cases break)
    return first_market(c.products)


CASES = {
    # --- datasets: cells, files, media types
    'csv-nan-cell': Case(csv_with('prices', 7, 'NaN'), 422, names(column='prices', row=7)),
    'csv-infinity-cell': Case(csv_with('shares', 1, 'inf'), 422, names(column='shares', row=1)),
    'csv-minus-infinity-cell': Case(csv_with('prices', 4, '-Infinity'), 422, names(column='prices', row=4)),
    'text-in-a-price-cell': Case(job(product=inline_products(set_cell('prices', 2, 'cheap'))), 422,
                                 names(column='prices', row=2, market=MARKET0)),
    'json-nan-token-in-columns': Case(
        post_raw(b'{"columns": {"market_ids": ["a", "b"], "prices": [1.0, NaN]}}', 'application/json'), 422,
        names(column='prices', row=1), ('NaN',)),
    'json-infinity-token-in-columns': Case(
        post_raw(b'{"columns": {"market_ids": ["a", "b"], "prices": [Infinity, 1.0]}}', 'application/json'), 422,
        names(column='prices', row=0), ('Infinity',)),
    'json-minus-infinity-token-in-columns': Case(
        post_raw(b'{"columns": {"market_ids": ["a"], "prices": [-Infinity]}}', 'application/json'), 422,
        names(column='prices', row=0), ('-Infinity',)),
    'empty-csv': Case(post_raw(b'', 'text/csv'), 422, None, ('empty',)),
    'empty-parquet-body': Case(post_raw(b'', 'application/vnd.apache.parquet'), 422, None, ('empty',)),
    'empty-json-body': Case(post_raw(b'  ', 'application/json'), 422, None, ('empty',)),
    'csv-header-without-rows': Case(post_csv('market_ids,prices\n'), 422, None, ('no rows',)),
    'parquet-without-rows': Case(empty_parquet, 422, None, ('no rows',)),
    'wrong-content-type': Case(post_raw(b'<xml/>', 'application/xml'), 415, None, ('application/xml',)),
    'no-content-type': Case(post_raw(b'market_ids\na\n', None), 415),
    'malformed-csv-extra-field': Case(post_csv('market_ids,prices\na,1.0\nb,2.0,3.0\n'), 422, names(row=1)),
    'csv-cr-in-a-column-name': Case(post_raw(b'market_ids,"pri\rces"\na,1\n', 'text/csv'), 422,
                                    names(column='pri\rces')),
    'csv-nul-in-a-column-name': Case(post_raw(b'market_ids,pri\x00ces\na,1\n', 'text/csv'), 422,
                                     names(column='pri\x00ces'), ('control character',)),
    'json-nul-in-a-column-name': Case(
        lambda c: c.client.post('/v1/datasets', json={'columns': {'market_ids': ['a'], 'x\x00': [1.0]}}), 422,
        names(column='x\x00')),
    'csv-nul-in-a-cell': Case(csv_with('product_ids', 4, 'F1B\x0004'), 422, names(column='product_ids', row=4),
                              ('NUL',)),
    'json-nul-in-a-cell': Case(
        lambda c: c.client.post('/v1/datasets', json={'columns': {'market_ids': ['a', 'b\x00'], 'x': [1.0, 2.0]}}),
        422, names(column='market_ids', row=1)),
    'csv-not-utf8': Case(post_raw(b'market_ids,prices\n\xff\xfe,1\n', 'text/csv'), 422, None, ('UTF-8',)),
    'malformed-parquet': Case(truncated_parquet, 422, None, ('Parquet',)),
    'parquet-nested-column': Case(nested_parquet, 422, names(column='nodes')),
    'duplicate-csv-column': Case(post_csv('market_ids,prices,prices\na,1,2\n'), 422, names(column='prices')),
    'json-missing-market-ids': Case(lambda c: c.client.post('/v1/datasets', json={'columns': {'prices': [1.0]}}),
                                    422, names(column='market_ids')),
    'json-columns-of-unequal-length': Case(
        lambda c: c.client.post('/v1/datasets', json={'columns': {'market_ids': ['a', 'b'], 'prices': [1.0]}}), 422,
        names(column='prices')),
    'json-null-cell': Case(lambda c: c.client.post('/v1/datasets', json={'columns': {'market_ids': ['a'], 'x': [None]}}),
                           422, names(column='x', row=0)),
    'dataset-unknown-field': Case(
        lambda c: c.client.post('/v1/datasets', json={'columns': {'market_ids': ['a']}, 'extra': 1}), 422,
        names(field='extra')),
    'gzip-encoded-upload-415': Case(lambda c: c.client.post('/v1/datasets', content=b'\x1f\x8b\x08\x00',
                                                            headers={'Content-Type': 'text/csv', 'Content-Encoding': 'gzip'}),
                                    415, names(field='Content-Encoding'), ('gzip',)),
    'encoded-job-415': Case(lambda c: c.client.post('/v1/jobs', content=b'{}', headers={
        'Content-Type': 'application/json', 'Content-Encoding': 'br'}), 415, names(field='Content-Encoding')),
    'huge-upload-413': Case(huge_upload, 413, names(limit=SMALL_BODY)),
    'huge-streamed-upload-413': Case(huge_streamed_upload, 413, names(limit=SMALL_BODY)),
    'unknown-dataset-404': Case(get('/v1/datasets/' + '0' * 64), 404, None, ('0' * 64,)),
    'delete-unknown-dataset-404': Case(lambda c: c.client.delete('/v1/datasets/' + '0' * 64), 404),
    # --- jobs: product data (inline, so nothing may be stored when the job is refused)
    'inline-nan-token': Case(raw_job('{"product_data": {"columns": {"market_ids": ["a", "a"], "product_ids": ["x", "y"],'
                                     ' "shares": [0.1, NaN], "prices": [1, 2]}}, "spec": {"problem": '
                                     '{"product_formulations": [{"formula": "0 + prices"}]}}}'),
                             422, names(column='shares', row=1, field='product_data.columns')),
    'inline-missing-market-ids': Case(job(product=inline_products(lambda f: f.drop(columns=['market_ids']))), 422,
                                      names(column='market_ids', field='product_data.columns')),
    'inline-missing-shares': Case(job(product=inline_products(lambda f: f.drop(columns=['shares']))), 422,
                                  names(column='shares')),
    'inline-share-zero': Case(job(product=inline_products(set_cell('shares', 5, 0.0))), 422,
                              names(column='shares', row=5, market=MARKET0)),
    'inline-negative-share': Case(job(product=inline_products(set_cell('shares', 6, -0.1))), 422,
                                  names(column='shares', row=6, market=MARKET0)),
    'stored-share-above-one': Case(lambda c: c.client.post('/v1/jobs', json={
        'product_data': {'dataset_id': c.wide_shares_id}, 'spec': LOGIT_SPEC}), 422,
        names(column='shares', row=3, market=MARKET0)),
    'inline-inside-shares-sum-to-one': Case(
        job(product=inline_products(lambda f: f.assign(shares=f['shares'].where(f['market_ids'] != first_market(f),
                                                                                 0.05)))),
        422, names(column='shares', market=MARKET0), ('outside good',)),
    # --- jobs: agent data
    'market-without-agents': Case(
        job(PI_SPEC, agent=inline_agents(lambda f: f[f['market_ids'] != first_market(f)])), 422,
        names(column='market_ids', market=MARKET0)),
    # weights that do not sum to one are allowed (importance sampling, as PyBLP: a warning in the result)
    'agent-weight-negative': Case(
        job(PI_SPEC, agent=inline_agents(set_cell('weights', 0, -0.1))), 422,
        names(column='weights', market=MARKET0, row=0)),
    'agent-data-without-nodes': Case(job(PI_SPEC, agent=inline_agents(lambda f: f.drop(columns=['nodes0']))), 422,
                                     names(column='nodes0')),
    # --- jobs: a supply side
    'supply-without-firm-ids': Case(job(SUPPLY_SPEC, product=inline_products(lambda f: f.drop(columns=['firm_ids']))),
                                    422, names(column='firm_ids')),
    'supply-too-few-supply-instruments': Case(job(with_costs_formula('1 + mushy + I(shares * 2)')), 422,
                                              names(parameter='supply_instruments')),
    'supply-prices-in-costs': Case(job(with_costs_formula('1 + prices')), 422, names(parameter='X3')),
    'supply-price-coefficient-concentrated': Case(job({**SUPPLY_SPEC, 'solve': {'method': '1s'}}), 422,
                                                  names(parameter='beta')),
    'supply-negative-costs-bound-order': Case(
        job({**SUPPLY_SPEC, 'solve': {**SUPPLY_SPEC['solve'], 'costs_bounds': [1.0, 0.5]}}), 422,
        names(parameter='costs_bounds')),
    'moment-types-malformed-pair': Case(job(with_solve(LOGIT_SPEC, demand_moment_types=[['levels', 'all']])), 422,
                                        names(field='spec.solve.demand_moment_types')),
    'moment-types-counts-not-summing-to-MD': Case(
        job(with_solve(LOGIT_SPEC, demand_moment_types=[['levels', 0]])), 422,
        names(parameter='demand_moment_types'), ('instrument counts must sum to the number of demand-side',)),
    'covariance-mean-without-supply': Case(job(with_solve(LOGIT_SPEC, covariance_moments_mean=0.5)), 422,
                                           names(parameter='covariance_moments_mean'), ('supply side',)),
    'covariance-mean-without-covariance-instruments': Case(
        job(with_solve(SUPPLY_SPEC, covariance_moments_mean=0.5)), 422, names(parameter='covariance_moments_mean'),
        ('covariance_instruments',)),
    'covariance-mean-not-a-number': Case(job(with_solve(SUPPLY_SPEC, covariance_moments_mean='high')), 422,
                                         names(field='spec.solve.covariance_moments_mean')),
    # --- jobs: formulas
    'formula-unknown-column': Case(job(with_formula('0 + prices + sugar')), 422, names(column='sugar')),
    'formula-syntax-error': Case(job(with_formula('0 + (prices')), 422, names(parameter='X1 formulation')),
    'formula-dangling-operator': Case(job(with_formula('0 + prices +')), 422, names(parameter='X1 formulation')),
    'formula-attribute-access': Case(job(with_formula('0 + prices.__class__')), 422,
                                     names(parameter='X1 formulation'), ('Attribute',)),
    'formula-import': Case(job(with_formula("0 + I(__import__('os').getcwd())")), 422,
                           names(parameter='X1 formulation')),
    'absorb-unknown-column': Case(job({'problem': {'product_formulations': [{'formula': '0 + prices',
                                                                              'absorb': 'C(region)'}]}}), 422,
                                  names(column='region')),
    'agent-formula-unknown-column': Case(
        job({**PI_SPEC, 'problem': {**PI_SPEC['problem'], 'agent_formulation': {'formula': '0 + wealth'}}},
            agent=inline_agents(lambda f: f)), 422, names(column='wealth')),
    # --- jobs: built instruments (spec.problem.instruments)
    'instruments-unknown-column': Case(job(with_instruments(blp='0 + sugar')), 422, names(column='sugar')),
    'instruments-without-firm-ids': Case(
        job(with_instruments(differentiation={'formula': '0 + mushy'}),
            product=inline_products(lambda f: f.drop(columns=['firm_ids']))), 422, names(column='firm_ids')),
    'instruments-unknown-version': Case(
        job(with_instruments(differentiation={'formula': '0 + mushy', 'version': 'cubic'})), 422,
        names(field='spec.problem.instruments.differentiation.version')),
    'instruments-collinear-with-fixed-effects': Case(job(with_instruments(blp='0 + mushy')), 422,
                                                     names(column='demand_instruments1'), ('collinear',)),
    # --- optimal instruments (spec.optimal_instruments, POST /v1/jobs/{id}/optimal-instruments)
    'optimal-instruments-before-the-estimate-finished': Case(optimal_instruments({}), 409,
                                                             names(job_status='queued')),
    'optimal-instruments-of-unknown-job': Case(optimal_instruments({}, 'nope'), 404),
    'optimal-instruments-unknown-method': Case(optimal_instruments({'method': 'exact'}), 422, names(field='method')),
    'optimal-instruments-zero-draws': Case(optimal_instruments({'method': 'normal', 'draws': 0}), 422,
                                           names(field='draws')),
    'optimal-instruments-negative-seed': Case(optimal_instruments({'method': 'empirical', 'seed': -1}), 422,
                                              names(field='seed')),
    'optimal-instruments-shifters-without-supply': Case(
        optimal_instruments({'supply_shifter_formulation': 'x'}, 'succeeded'), 422,
        names(parameter='supply_shifter_formulation'), ('needs a supply side',)),
    'optimal-instruments-drop-index-outside-theta': Case(optimal_instruments({'drop_indices': [0]}, 'succeeded'), 422,
                                                         names(parameter='drop_indices'), ('theta has 0',)),
    'optimal-instruments-drop-index-not-an-integer': Case(optimal_instruments({'drop_indices': ['0']}), 422,
                                                          names(field='drop_indices.0')),
    'spec-optimal-instruments-shifters-without-supply': Case(
        job({**LOGIT_SPEC, 'optimal_instruments': {'demand_shifter_formulation': 'x'}}), 422,
        detail=('demand_shifter_formulation needs a supply side',)),
    'spec-optimal-instruments-drop-index-outside-theta': Case(
        job({**LOGIT_SPEC, 'optimal_instruments': {'drop_indices': [-1]}}), 422,
        names(parameter='optimal_instruments.drop_indices')),
    'spec-optimal-instruments-unknown-expected-prices-column': Case(
        job({**LOGIT_SPEC, 'optimal_instruments': {'expected_prices_column': 'nope'}}), 422,
        names(column='nope'), ('expected_prices_column',)),
    'spec-optimal-instruments-unknown-method': Case(
        job({**LOGIT_SPEC, 'optimal_instruments': {'method': 'exact'}}), 422,
        names(field='spec.optimal_instruments.method')),
    'spec-optimal-instruments-in-a-multistart': Case(
        job({**RC_SPEC, 'optimal_instruments': {}}, kind='multistart', starts={'count': 2}), 422,
        detail=('optimal_instruments',)),
    # --- sweeps (POST /v1/jobs with kind sweep)
    'sweep-without-variants': Case(job(kind='sweep', sweep={}), 422, detail=('variants or axes',)),
    'sweep-variant-with-an-unknown-method': Case(
        job(kind='sweep', sweep={'variants': [{'override': {'solve': {'method': '1s'}}},
                                              {'override': {'solve': {'method': '3s'}}, 'label': 'three steps'}]}),
        422, names(variant=1, label='three steps', field='spec.solve.method')),
    'sweep-variant-with-an-unknown-column': Case(
        job(kind='sweep', sweep={'variants': [{'override': {'problem': {'product_formulations': [
            {'formula': '0 + weight'}]}}}]}), 422, names(variant=0, label='variant 0')),
    'sweep-of-too-many-variants': Case(
        job(kind='sweep', sweep={'axes': [{'name': name, 'values': [{'override': {}}] * 5} for name in 'abc']}),
        422, detail=('125 variants',)),
    # --- bootstrap (POST /v1/jobs/{id}/bootstrap)
    'bootstrap-before-the-estimate-finished': Case(child('bootstrap', {'draws': 100}), 409,
                                                   names(job_status='queued')),
    'bootstrap-of-unknown-job': Case(child('bootstrap', {}, 'nope'), 404),
    'bootstrap-one-draw': Case(child('bootstrap', {'draws': 1}), 422, names(field='draws')),
    'bootstrap-level-of-one': Case(child('bootstrap', {'level': 1.0}), 422, names(field='level')),
    'bootstrap-chunks-of-zero': Case(child('bootstrap', {'chunk_size': 0}), 422, names(field='chunk_size')),
    'bootstrap-empty-merger': Case(child('bootstrap', {'merger': {}}), 422, names(field='merger')),
    'bootstrap-unknown-field': Case(child('bootstrap', {'replications': 10}), 422, names(field='replications')),
    # --- importance sampling and micro values of an estimate
    'importance-sampling-unknown-field': Case(child('importance-sampling', {'draws': 5, 'delta': [0.0]}), 422,
                                              names(field='delta')),
    'importance-sampling-of-a-logit': Case(
        lambda c: c.client.post(f'/v1/jobs/{c.succeeded_job}/importance-sampling', json={'draws': 5}), 422,
        names(field='spec.problem.product_formulations')),
    'micro-values-without-micro-moments': Case(lambda c: c.client.get(f'/v1/jobs/{c.succeeded_job}/micro-values'),
                                               422, names(field='spec.solve.micro_moments')),
    # --- jobs: parameters
    'sigma-wrong-shape': Case(job(with_solve(sigma=[[1.0, 0.0], [0.0, 1.0]])), 422, names(parameter='sigma')),
    'pi-wrong-shape': Case(job(with_solve(PI_SPEC, pi=[[1.0, 2.0]]), agent=inline_agents(lambda f: f)), 422,
                           names(parameter='pi')),
    'pi-without-demographics': Case(job(with_solve(pi=[[1.0]])), 422, names(field='spec'), ('pi',)),
    'under-identified-logit': Case(job(with_formula('0 + prices + I(prices ** 2)')), 422,
                                   names(parameter='prices**2'), ('too few instruments',)),
    'under-identified-random-coefficients': Case(
        job(with_solve(with_formula('0 + prices + mushy', RC_SPEC, 1), sigma=[[1.0, 0.0], [0.0, 1.0]])), 422,
        names(parameter='sigma[mushy, mushy]'), ('too few instruments',)),
    'rho-above-one': Case(job(with_solve(LOGIT_SPEC, rho=1.5), product=inline_products(nested)), 422,
                          names(parameter='rho'), ('below 1',)),
    'rho-negative': Case(job(with_solve(LOGIT_SPEC, rho=[-0.2]), product=inline_products(nested)), 422,
                         names(parameter='rho'), ('at least 0',)),
    'rho-bounds-reach-one': Case(job(with_solve(LOGIT_SPEC, rho=0.5, rho_bounds=[[0.0], [1.0]]),
                                     product=inline_products(nested)), 422, names(parameter='rho_bounds')),
    'rc-types-length-mismatch': Case(job(with_problem(RC_SPEC, rc_types=['log', 'linear'])), 422,
                                     names(parameter='rc_types'), ('one entry per X2 column',)),
    'rc-types-without-X2': Case(job(with_problem(LOGIT_SPEC, rc_types=['log'])), 422, names(parameter='rc_types')),
    'rc-types-unknown': Case(job(with_problem(RC_SPEC, rc_types=['logit'])), 422,
                             names(field='spec.problem.rc_types.0')),
    'epsilon-scale-not-positive': Case(job(with_problem(LOGIT_SPEC, epsilon_scale=0)), 422,
                                       names(field='spec.problem.epsilon_scale')),
    'epsilon-scale-with-nests': Case(job(with_problem(LOGIT_SPEC, epsilon_scale=2.0), product=inline_products(nested)),
                                     422, names(parameter='epsilon_scale'), ('nesting groups',)),
    'bounds-exclude-start': Case(job(with_solve(sigma_bounds=[[[2.0]], [[3.0]]])), 422,
                                 names(parameter='sigma[prices, prices]'), ('outside its bounds',)),
    'sigma-nan-token': Case(raw_job('{"product_data": {"dataset_id": "{product}"}, "spec": {"problem": '
                                    '{"product_formulations": [{"formula": "0 + prices"}]}, "solve": {"sigma": [[NaN]]}}}'),
                            422, names(field='spec.solve.sigma.0.0')),
    'sigma-infinity-token': Case(raw_job('{"product_data": {"dataset_id": "{product}"}, "spec": {"problem": '
                                         '{"product_formulations": [{"formula": "0 + prices"}]}, '
                                         '"solve": {"sigma": [[Infinity]]}}}'),
                                 422, names(field='spec.solve.sigma.0.0')),
    'bound-minus-infinity-token': Case(raw_job('{"product_data": {"dataset_id": "{product}"}, "spec": {"problem": '
                                               '{"product_formulations": [{"formula": "0 + prices"}]}, "solve": '
                                               '{"sigma": [[1]], "sigma_bounds": [[[-Infinity]], [[5]]]}}}'),
                                       422, names(field='spec.solve.sigma_bounds.0.0.0')),
    'integration-size-zero': Case(job({**RC_SPEC, 'problem': {**RC_SPEC['problem'],
                                                              'integration': {'specification': 'halton', 'size': 0}}}),
                                  422, names(field='spec.problem.integration.size')),
    'no-formulations': Case(job({'problem': {'product_formulations': []}}), 422,
                            names(field='spec.problem.product_formulations')),
    'unknown-optimizer': Case(job(with_solve(LOGIT_SPEC, optimization={'method': 'newton'})), 422,
                              names(field='spec.solve.optimization.method')),
    # --- jobs: the request itself
    'job-unknown-top-level-field': Case(job(priority='high'), 422, names(field='priority')),
    'job-unknown-spec-field': Case(job(with_solve(LOGIT_SPEC, tolerance=1e-8)), 422, names(field='spec.solve.tolerance')),
    'job-unknown-dataset': Case(lambda c: c.client.post('/v1/jobs', json={
        'product_data': {'dataset_id': 'f' * 64}, 'spec': LOGIT_SPEC}), 422, names(field='product_data.dataset_id')),
    'job-malformed-dataset-id': Case(lambda c: c.client.post('/v1/jobs', json={
        'product_data': {'dataset_id': 'not-a-hash'}, 'spec': LOGIT_SPEC}), 422, names(field='product_data.dataset_id')),
    'job-malformed-json': Case(lambda c: c.client.post('/v1/jobs', content=b'{"kind": "estimate"',
                                                       headers={'Content-Type': 'application/json'}),
                               400, names(title='Malformed JSON'), ('character 19',)),
    'job-deeply-nested-json': Case(lambda c: c.client.post('/v1/jobs', content=b'{"spec": ' + b'[' * 100000 + b']' * 100000
                                                           + b'}', headers={'Content-Type': 'application/json'}),
                                   400, names(title='Malformed JSON'), ('nested too deeply',)),
    'job-json-not-utf8': Case(lambda c: c.client.post('/v1/jobs', content=b'{"kind": "\xff"}',
                                                      headers={'Content-Type': 'application/json'}),
                              400, names(title='Malformed JSON'), ('UTF-8', 'byte 10')),
    'job-huge-streamed-body-413': Case(lambda c: c.small.post('/v1/jobs', content=(b' ' * 1000 for _ in range(10)),
                                                              headers={'Content-Type': 'application/json'}),
                                       413, names(limit=SMALL_BODY)),
    'dataset-malformed-json': Case(post_raw(b'{"columns": {"market_ids": ["a"]', 'application/json'), 400,
                                   names(title='Malformed JSON')),
    'job-wrong-content-type': Case(lambda c: c.client.post('/v1/jobs', content=b'{}',
                                                           headers={'Content-Type': 'text/plain'}), 415),
    'job-huge-body-413': Case(huge_job, 413, names(limit=SMALL_BODY)),
    'job-idempotency-key-too-long': Case(lambda c: c.client.post(
        '/v1/jobs', json={'product_data': {'dataset_id': c.product_id}, 'spec': LOGIT_SPEC},
        headers={'Idempotency-Key': 'k' * 256}), 422, names(field='Idempotency-Key')),
    'deeply-nested-json': Case(post_raw(b'[' * 100000 + b']' * 100000, 'application/json'), 400,
                               names(title='Malformed JSON'), ('nested too deeply',)),
    # --- job ids and reads
    'unknown-job-404': Case(get('/v1/jobs/nope'), 404, None, ('nope',)),
    'nul-in-a-job-id': Case(get('/v1/jobs/ab%00cd'), 422, names(field='job_id')),
    'very-long-job-id': Case(get('/v1/jobs/' + 'a' * 60_000), 422, names(field='job_id')),  # httpx's URL limit: 64 kB
    'nul-in-a-job-id-to-cancel': Case(lambda c: c.client.post('/v1/jobs/%00/cancel'), 422, names(field='job_id')),
    'nul-in-a-dataset-id': Case(get('/v1/datasets/%00'), 422, names(field='dataset_id')),
    'very-long-dataset-id': Case(lambda c: c.client.delete('/v1/datasets/' + 'f' * 60_000), 422,
                                names(field='dataset_id')),
    'nul-in-a-market': Case(get('/v1/jobs/{job}/elasticities?market=C01Q1%00'), 422, names(parameter='market')),
    'megabyte-dataset-id-in-a-job': Case(lambda c: c.client.post('/v1/jobs', json={
        'product_data': {'dataset_id': 'f' * 1_000_000}, 'spec': LOGIT_SPEC}), 422, names(field='product_data.dataset_id')),
    'very-long-market': Case(get('/v1/jobs/{job}/diversion-ratios?market=' + 'm' * 60_000), 422,
                            names(parameter='market')),
    'nul-in-an-idempotency-key': Case(lambda c: c.client.post(
        '/v1/jobs', json={'product_data': {'dataset_id': c.product_id}, 'spec': LOGIT_SPEC},
        headers={'Idempotency-Key': 'k\x01'}), 422, names(field='Idempotency-Key')),
    'unknown-job-result-404': Case(get('/v1/jobs/nope/result'), 404),
    'unknown-job-events-404': Case(get('/v1/jobs/nope/events'), 404),
    'unknown-job-elasticities-404': Case(get('/v1/jobs/nope/elasticities?market=C01Q1'), 404),
    'cancel-unknown-job-404': Case(lambda c: c.client.post('/v1/jobs/nope/cancel'), 404),
    'delete-unknown-job-404': Case(lambda c: c.client.delete('/v1/jobs/nope'), 404),
    'delete-a-queued-job-409': Case(lambda c: c.client.delete(f'/v1/jobs/{c.queued_job}'), 409,
                                    names(job_status='queued'), ('cancel',)),
    'elasticities-without-market': Case(get('/v1/jobs/{job}/elasticities'), 422, names(parameter='market')),
    'elasticities-of-unknown-name': Case(get('/v1/jobs/{job}/elasticities?market=C01Q1&name=mushy'), 422,
                                         names(parameter='name')),
    'list-with-unknown-status': Case(get('/v1/jobs?status=lost'), 422, names(parameter='status')),
    'list-with-malformed-cursor': Case(get('/v1/jobs?cursor=abc'), 422, names(parameter='cursor')),
    # --- counterfactuals
    'counterfactual-on-unfinished-job': Case(counterfactual({'market': 'C01Q1', 'prices': {'F1B04': 0.05}}), 409,
                                             names(job_status='queued')),
    'counterfactual-on-unknown-job': Case(counterfactual({'market': 'C01Q1', 'prices': {'F1B04': 0.05}}, 'nope'), 404),
    'counterfactual-without-prices': Case(counterfactual({'market': 'C01Q1', 'prices': {}}), 422,
                                          names(field='prices')),
    'counterfactual-infinite-price': Case(lambda c: c.client.post(
        f'/v1/jobs/{c.queued_job}/counterfactuals', content=b'{"market": "C01Q1", "prices": {"F1B04": Infinity}}',
        headers={'Content-Type': 'application/json'}), 422, names(field='prices.F1B04')),
    'counterfactual-negative-price': Case(counterfactual({'market': 'C01Q1', 'prices': {'F1B04': -5.0}}, 'succeeded'),
                                          422, names(field='prices.F1B04', market='C01Q1', product='F1B04'),
                                          ('F1B04', 'C01Q1', 'positive')),
    'counterfactual-zero-price': Case(counterfactual({'market': 'C01Q1', 'prices': {'F1B06': 0}}, 'succeeded'), 422,
                                      names(field='prices.F1B06', market='C01Q1', product='F1B06')),
    'counterfactual-prices-and-merger': Case(
        counterfactual({'market': 'C01Q1', 'prices': {'F1B04': 1}, 'firm_ids': {'F2': 'F1'}}), 422,
        detail=('either prices',)),
    'counterfactual-costs-without-market': Case(counterfactual({'costs': {'F1B04': 0.01}}), 422,
                                                detail=('market is required',)),
    # product ids may repeat within a market (PyBLP's groups), but then they cannot name the product a price is for
    'counterfactual-price-of-a-repeated-product-id': Case(
        counterfactual({'market': 'C01Q1', 'prices': {'F1B04': 0.1}}, 'repeated'), 422,
        names(field='prices', market='C01Q1', products=['F1B04']), ('repeated',)),
    'counterfactual-unknown-field': Case(counterfactual({'market': 'C01Q1', 'prices': {'F1B04': 1}, 'merger': True}),
                                         422, names(field='merger')),
}


def _no_constants(token: str) -> None:
    raise AssertionError(f'the problem document echoes the non-finite number {token}')


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_a_4xx_problem_naming_the_fault_and_stores_nothing(ctx: Context, name: str) -> None:
    case = CASES[name]
    before = snapshot(ctx.r)
    response = case.send(ctx)
    assert response.status_code == case.status, response.text
    assert response.headers['content-type'].startswith('application/problem+json'), response.headers
    problem = json.loads(response.text, parse_constant=_no_constants)
    assert problem['status'] == case.status and problem['type'].startswith('urn:blp:problem:') and problem['title']
    for key, value in (case.names(ctx) if case.names else {}).items():
        assert problem.get(key) == value, (key, problem)
    for text in case.detail:
        assert text in problem.get('detail', ''), (text, problem)
    assert snapshot(ctx.r) == before, f'{name} stored something'


def test_the_catalogue_covers_every_kind_of_fault() -> None:
    assert len(CASES) >= 30
    assert all(400 <= case.status < 500 for case in CASES.values())


def test_a_formula_that_tries_to_run_code_has_no_side_effect(ctx: Context, tmp_path: Path) -> None:
    """Formulas are parsed, never evaluated: each of these would create the marker file if it were run."""
    marker = tmp_path / 'pwned'
    command = f"__import__('os').mkdir('{marker}')"
    attempts = [f'0 + {command}', f'0 + I({command})', f'0 + {{{command}}}', f'0 + log({command})',
                f'0 + `{command}`', f'0 + C(prices, {command})', "0 + I(prices.__class__.__mro__)"]
    before = snapshot(ctx.r)
    for formula in attempts:
        for spec in (with_formula(formula), {'problem': {'product_formulations': [{'formula': '0 + prices',
                                                                                   'absorb': formula}]}}):
            response = job(spec)(ctx)
            assert response.status_code == 422, (formula, response.text)
            assert response.headers['content-type'].startswith('application/problem+json')
    assert not marker.exists() and not os.path.exists(marker)
    assert snapshot(ctx.r) == before
