"""`Client`: the service's HTTP API as Python calls that take DataFrames and return DataFrames and results.

Submissions carry an Idempotency-Key, and a connection error retries the request with the same key, so a retry
whose first attempt did reach the service returns the job it created instead of queueing a second one.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Union

import httpx
import pandas as pd

from blp.spec.results import (
    AgentScores,
    BootstrapResult,
    ImportanceSample,
    MergerScreenResult,
    MicroScores,
    MicroValues,
)
from blp_client.errors import JobFailed, error_for
from blp_client.progress import ProgressLine
from blp_client.results import CounterfactualResult, Results, matrix_frame
from blp_client.spec import as_spec

DATASET_ID = re.compile(r'^[0-9a-f]{64}$')
TERMINAL = ('succeeded', 'failed', 'cancelled')
Data = Union[pd.DataFrame, str, Path]
JobRef = Union[str, dict]


def job_id(job: JobRef) -> str:
    """A job's id from the job (as returned by this client) or the id itself."""
    return job['id'] if isinstance(job, dict) else job


class Client:
    """`Client(url, api_key)`; `estimate(...)`, `multistart(...)`, `counterfactual(...)` return the job (a dict,
    finished when `wait=True`); `result(job)`, `elasticities(job, market)` read what it computed."""

    def __init__(self, url: str, api_key: Optional[str] = None, *, timeout: float = 60, retries: int = 3,
                 backoff: float = 0.5, progress: Optional[bool] = None, transport: Optional[httpx.BaseTransport] = None) -> None:
        headers = {'Authorization': f'Bearer {api_key}'} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip('/'), headers=headers, timeout=timeout, transport=transport)
        self.retries, self.backoff, self.progress = retries, backoff, progress

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> 'Client':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call: retried on connection errors (same body and headers, so the same Idempotency-Key),
        an error answer raised as its typed exception."""
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2 ** attempt)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_for(response.status_code, body, response.text[:500])
        return response

    def _submit(self, path: str, body: dict[str, Any], idempotency_key: Optional[str], wait: bool,
                timeout: Optional[float]) -> dict[str, Any]:
        key = idempotency_key or str(uuid.uuid4())
        job = self.request('POST', path, json=body, headers={'Idempotency-Key': key}).json()
        return self.wait(job, timeout) if wait else job

    # ------------------------------------------------------------------------------------------ data

    def upload(self, data: Data) -> str:
        """Store product or agent data (a DataFrame, or a .csv / .parquet file) and return its dataset id.

        The id is the content's hash, so uploading the same data again is cheap and returns the same id."""
        if isinstance(data, pd.DataFrame):
            buffer = io.BytesIO()
            data.to_parquet(buffer, index=False)
            content, media = buffer.getvalue(), 'application/vnd.apache.parquet'
        else:
            path = Path(data)
            by_suffix = {'.csv': 'text/csv', '.parquet': 'application/vnd.apache.parquet',
                         '.json': 'application/json'}.get(path.suffix.lower())
            if by_suffix is None:
                raise ValueError(f'{path}: upload .csv, .parquet or .json files, or a DataFrame')
            content, media = path.read_bytes(), by_suffix
        return self.request('POST', '/v1/datasets', content=content, headers={'Content-Type': media}).json()['id']

    def _data(self, data: Optional[Data]) -> Optional[dict[str, str]]:
        """A dataset reference for a job: data given as a dataset id is used as is, anything else uploaded."""
        if data is None:
            return None
        if isinstance(data, str) and DATASET_ID.match(data):
            return {'dataset_id': data}
        return {'dataset_id': self.upload(data)}

    # ------------------------------------------------------------------------------------------ jobs

    def estimate(self, product_data: Data, spec: Any, agent_data: Optional[Data] = None, wait: bool = True,
                 timeout: Optional[float] = None, idempotency_key: Optional[str] = None) -> dict[str, Any]:
        """Queue an estimate (spec: a dict, a `blp.spec.EstimateSpec`, or `build_spec(...)` of blp objects)."""
        body = {'kind': 'estimate', 'product_data': self._data(product_data), 'spec': as_spec(spec)}
        if agent_data is not None:
            body['agent_data'] = self._data(agent_data)
        return self._submit('/v1/jobs', body, idempotency_key, wait, timeout)

    def multistart(self, product_data: Data, spec: Any, starts: dict[str, Any], agent_data: Optional[Data] = None,
                   wait: bool = True, timeout: Optional[float] = None,
                   idempotency_key: Optional[str] = None) -> dict[str, Any]:
        """The same estimate from `starts['count']` starting values in parallel; its result is the best start."""
        body = {'kind': 'multistart', 'product_data': self._data(product_data), 'spec': as_spec(spec),
                'starts': starts}
        if agent_data is not None:
            body['agent_data'] = self._data(agent_data)
        return self._submit('/v1/jobs', body, idempotency_key, wait, timeout)

    def sweep(self, product_data: Data, spec: Any, *, variants: Optional[list[dict[str, Any]]] = None,
              axes: Optional[list[dict[str, Any]]] = None, counterfactual: Optional[dict[str, Any]] = None,
              on_invalid: str = 'refuse', agent_data: Optional[Data] = None, wait: bool = True,
              timeout: Optional[float] = None, idempotency_key: Optional[str] = None) -> dict[str, Any]:
        """The estimate under each variant (`variants`: `[{"label", "override"}]`, or `axes`: `[{"name", "values":
        [...]}]` whose product is taken), each optionally followed by `counterfactual`; see `comparison`."""
        sweep = {name: value for name, value in (('variants', variants), ('axes', axes),
                                                 ('counterfactual', counterfactual)) if value is not None}
        body = {'kind': 'sweep', 'product_data': self._data(product_data), 'spec': as_spec(spec),
                'sweep': {**sweep, 'on_invalid': on_invalid}}
        if agent_data is not None:
            body['agent_data'] = self._data(agent_data)
        return self._submit('/v1/jobs', body, idempotency_key, wait, timeout)

    def comparison(self, job: JobRef) -> pd.DataFrame:
        """A finished sweep's comparison table: a row per variant, its estimates (`se <label>`: their SEs),
        diagnostics, mean own-price elasticity, the counterfactual's headline numbers, seconds and error."""
        table = self.request('GET', f'/v1/jobs/{job_id(job)}/comparison').json()
        return pd.DataFrame(table['rows'], columns=table['columns'])

    def counterfactual(self, job: JobRef, *, market: Optional[str] = None, prices: Optional[dict[str, float]] = None,
                       firm_ids: Optional[dict[str, str]] = None, costs: Optional[dict[str, float]] = None,
                       constant_costs: Optional[bool] = None, wait: bool = True, timeout: Optional[float] = None,
                       idempotency_key: Optional[str] = None) -> dict[str, Any]:
        """Prices taken as given in `market`, or a new equilibrium after a merger (`firm_ids={'F6': 'F4'}`) or
        new costs, at a finished estimate's parameters (`constant_costs=False`: costs move with shares in X3)."""
        body = {name: value for name, value in
                (('market', market), ('prices', prices), ('firm_ids', firm_ids), ('costs', costs),
                 ('constant_costs', constant_costs)) if value is not None}
        return self._submit(f'/v1/jobs/{job_id(job)}/counterfactuals', body, idempotency_key, wait, timeout)

    def merger_screen(self, job: JobRef, *, candidates: Optional[list[list[str]]] = None,
                      markets: Optional[list[str]] = None, credit: float = 0.0, sort: str = 'consumer_surplus_loss',
                      order: str = 'desc', products: bool = False, ssnip: Optional[dict[str, Any]] = None,
                      wait: bool = True, timeout: Optional[float] = None,
                      idempotency_key: Optional[str] = None) -> dict[str, Any]:
        """Screen candidate mergers at a finished estimate (default: every pair of firms), ranked by `sort`; read
        the ranking with `ranking`."""
        body = {'candidates': candidates, 'markets': markets, 'credit': credit, 'sort': sort, 'order': order,
                'products': products, 'ssnip': ssnip}
        body = {name: value for name, value in body.items() if value is not None}
        return self._submit(f'/v1/jobs/{job_id(job)}/merger-screen', body, idempotency_key, wait, timeout)

    def ranking(self, job: JobRef, sort: Optional[str] = None, order: Optional[str] = None) -> pd.DataFrame:
        """A finished merger screen's candidates, one row each in rank order (by `sort`, default the screen's)."""
        params = {name: value for name, value in (('sort', sort), ('order', order)) if value is not None}
        rows = self.request('GET', f'/v1/jobs/{job_id(job)}/ranking', params=params).json()['ranking']
        return pd.DataFrame(rows).set_index('rank')

    def job(self, job: JobRef) -> dict[str, Any]:
        return self.request('GET', f'/v1/jobs/{job_id(job)}').json()

    def jobs(self, status: Optional[str] = None) -> list[dict[str, Any]]:
        """Every job of this API key, newest first (all pages)."""
        items, cursor = [], None
        while True:
            params = {key: value for key, value in (('status', status), ('cursor', cursor)) if value is not None}
            page = self.request('GET', '/v1/jobs', params={**params, 'limit': 200}).json()
            items += page['items']
            cursor = page['next_cursor']
            if cursor is None:
                return items

    def cancel(self, job: JobRef) -> dict[str, Any]:
        """Cancel a queued or running job (harmless once it has ended); the job as it is now."""
        return self.request('POST', f'/v1/jobs/{job_id(job)}/cancel').json()

    def delete(self, job: JobRef) -> None:
        """Delete an ended job with its result; a queued or running one is refused (Conflict): cancel it first."""
        self.request('DELETE', f'/v1/jobs/{job_id(job)}')

    def wait(self, job: JobRef, timeout: Optional[float] = None, poll: float = 0.5) -> dict[str, Any]:
        """Poll until the job has finished, showing its progress; raises JobFailed unless it succeeded,
        TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        line = ProgressLine(self.progress)
        try:
            while True:
                current = self.job(job)
                line.update(current)
                if current['status'] in TERMINAL:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {current['id']} is still {current['status']} after {timeout} s")
                time.sleep(poll)
        finally:
            line.close()
        if current['status'] != 'succeeded':
            raise JobFailed(current)
        return current

    # ------------------------------------------------------------------------------------------ results

    def result(self, job: JobRef) -> Union[Results, CounterfactualResult, BootstrapResult, MergerScreenResult]:
        """A finished job's result: `Results` (PyBLP-like) for an estimate, multi-start or optimal-instruments
        re-estimate, a `CounterfactualResult`, or the typed document of a bootstrap or a merger screen
        (`blp.spec.results.BootstrapResult`, `MergerScreenResult`).
        Waits for the job first if it is still running."""
        response = self.request('GET', f'/v1/jobs/{job_id(job)}/result')
        if response.status_code == 202:
            self.wait(job)
            response = self.request('GET', f'/v1/jobs/{job_id(job)}/result')
        document = {'job_id': job_id(job), **response.json()}
        kind = document.get('kind')
        if kind == 'bootstrap':
            return BootstrapResult.model_validate(document)
        if kind == 'merger_screen':
            return MergerScreenResult.model_validate(document)
        return CounterfactualResult(document) if kind == 'counterfactual' else Results(document)

    def elasticities(self, job: JobRef, market: str) -> pd.DataFrame:
        """Price elasticities in `market`: entry (j, k) is the elasticity of j's share with respect to k's price."""
        return matrix_frame(self.request('GET', f'/v1/jobs/{job_id(job)}/elasticities', params={'market': market}).json())

    def diversion_ratios(self, job: JobRef, market: str) -> pd.DataFrame:
        """Diversion ratios in `market`: (j, k) is the share of j's lost sales going to k; diagonal: outside good."""
        return matrix_frame(self.request('GET', f'/v1/jobs/{job_id(job)}/diversion-ratios',
                                         params={'market': market}).json())

    def passthrough(self, job: JobRef, market: str) -> pd.DataFrame:
        """Passthrough in `market`: (j, k) is dp_j / dc_k, j's equilibrium price change per unit of k's cost."""
        return matrix_frame(self.request('GET', f'/v1/jobs/{job_id(job)}/passthrough', params={'market': market}).json())

    def micro_values(self, job: JobRef) -> pd.DataFrame:
        """The estimate's micro moments at its estimate (`value`, PyBLP's `compute_micro_values`) and as observed,
        one row per moment by name."""
        values = MicroValues.model_validate(self.request('GET', f'/v1/jobs/{job_id(job)}/micro-values').json())
        return pd.DataFrame([moment.model_dump() for moment in values.micro_moments]).set_index('name')

    def micro_scores(self, job: JobRef, dataset: Union[str, dict[str, Any]], micro_data: Data,
                     integration: Optional[dict[str, Any]] = None) -> MicroScores:
        """PyBLP's `compute_micro_scores` at the estimate: `.scores[p][n]` is observation n's d log P_n / d theta_p
        (`.parameters[p]`); `dataset` is one of the estimate's micro datasets by name, or one in the spec's JSON form;
        `micro_data` a DataFrame, file or dataset id."""
        body = {'dataset': dataset, 'micro_data': self._data(micro_data), 'integration': integration}
        response = self.request('POST', f'/v1/jobs/{job_id(job)}/micro-scores', json=body)
        return MicroScores.model_validate(response.json())

    def agent_scores(self, job: JobRef, dataset: Union[str, dict[str, Any]], micro_data: Optional[Data] = None,
                     integration: Optional[dict[str, Any]] = None) -> AgentScores:
        """PyBLP's `compute_agent_scores` at the estimate: `.scores[p][market]` is agents x choices (nested lists),
        for the estimate's own agents or those of `micro_data`."""
        body = {'dataset': dataset, 'micro_data': self._data(micro_data), 'integration': integration}
        response = self.request('POST', f'/v1/jobs/{job_id(job)}/agent-scores', json=body)
        return AgentScores.model_validate(response.json())

    def importance_sampling(self, job: JobRef, draws: int, ar_constant: float = 1.0, seed: Optional[int] = None,
                            agent_data: Optional[str] = None, integration: Optional[dict] = None) -> ImportanceSample:
        """PyBLP's `results.importance_sampling` at the estimate: candidates are its agents, or `agent_data` (a
        dataset id) and/or `integration` (`{"specification": ..., "size": ...}`). `pd.DataFrame(sample.sampled_agents)`
        is agent data for a new estimate (`upload` it)."""
        body: dict[str, Any] = {'draws': draws, 'ar_constant': ar_constant, 'seed': seed, 'integration': integration,
                                'agent_data': None if agent_data is None else {'dataset_id': agent_data}}
        response = self.request('POST', f'/v1/jobs/{job_id(job)}/importance-sampling', json=body)
        return ImportanceSample.model_validate(response.json())
