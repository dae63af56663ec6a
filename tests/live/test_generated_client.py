"""A client generated from the committed openapi/openapi.json by openapi-python-client, against the real stack
(uvicorn, Redis, a Celery worker): an estimate, a counterfactual and a bad request, all typed.

What a user of another language's generator meets: if the document lost a schema, the generated call would return
`None` or an untyped dict, and these tests fail."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from live_support import FIXTURES, rc_spec

from examples import cereal

pytestmark = pytest.mark.queue
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'blp_generated_client'


@pytest.fixture(scope='module')
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The generated package, imported from a temporary folder (no formatter hooks: the code is used as generated)."""
    folder = tmp_path_factory.mktemp('generated')
    (folder / 'config.yaml').write_text(f'post_hooks: []\npackage_name_override: {PACKAGE}\n')
    generator = Path(sys.executable).with_name('openapi-python-client')
    run = subprocess.run([str(generator), 'generate', '--path', str(ROOT / 'openapi' / 'openapi.json'), '--meta', 'none',
                          '--output-path', str(folder / PACKAGE), '--config', str(folder / 'config.yaml')],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'WARNING' not in run.stdout.replace('application/vnd.apache.parquet', '').replace('text/csv', ''), run.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))


def call(api: Any, module: str, **kwargs: Any) -> Any:
    """`sync_detailed` of a generated operation: its response, with the typed body in `parsed`."""
    return importlib.import_module(f'{PACKAGE}.api.{module}').sync_detailed(**kwargs)


def finished(api: Any, client: Any, job_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = call(api, 'jobs.get_job', client=client, job_id=job_id).parsed
        if job.status in ('succeeded', 'failed', 'cancelled'):
            assert job.status == 'succeeded', job.error
            return job
        assert time.monotonic() < deadline, f'{job_id} still {job.status}'
        time.sleep(0.2)


@pytest.fixture(scope='module')
def typed(api: Any, stack: Any) -> Any:
    return api.AuthenticatedClient(base_url=stack.url, token=stack.api_key, raise_on_unexpected_status=True)


@pytest.fixture(scope='module')
def estimate(api: Any, typed: Any, data: dict[str, str]) -> Any:
    client = typed
    models = importlib.import_module(f'{PACKAGE}.models')
    buffer = io.BytesIO()
    cereal.product_data().to_parquet(buffer, index=False)
    upload = call(api, 'datasets.upload_dataset', client=client,
                  body=api.types.File(payload=io.BytesIO(buffer.getvalue()), mime_type='application/octet-stream'))
    assert upload.status_code in (200, 201) and isinstance(upload.parsed, models.Dataset)
    assert upload.parsed.id == data['products']  # the same content, the same id, whatever the media type
    request = models.JobRequest.from_dict({'kind': 'estimate', 'product_data': {'dataset_id': upload.parsed.id},
                                           'agent_data': {'dataset_id': data['agents']}, 'spec': rc_spec()})
    accepted = call(api, 'jobs.create_job', client=client, body=request)
    assert accepted.status_code == 202 and isinstance(accepted.parsed, models.Job)
    return finished(api, client, accepted.parsed.id)


def by_name(parameters: list, kind: str, row: str, column: Callable[[Any], bool] = lambda c: True) -> Any:
    return next(p for p in parameters if p.kind == kind and p.row == row and column(p.column))


def test_an_estimate_comes_back_typed_with_values_matching_pyblp(api, typed, estimate):
    client = typed
    models = importlib.import_module(f'{PACKAGE}.models')
    result = call(api, 'results.get_result', client=client, job_id=estimate.id).parsed
    assert isinstance(result, models.EstimateResult) and result.results.converged
    reference = json.loads((FIXTURES / 'cereal_sigma_prices.json').read_text())
    sigma = by_name(result.results.parameters, 'sigma', 'prices', lambda column: column == 'prices')
    assert isinstance(sigma.value, float) and sigma.value == pytest.approx(reference['sigma'][1][1], rel=1e-4)
    assert sigma.se == pytest.approx(reference['sigma_se'][1][1], rel=1e-3)
    assert sigma.interval.lower < sigma.value < sigma.interval.upper
    assert len(result.results.trace) >= 2 and result.results.trace[0].iteration == 1
    elasticities = call(api, 'results.get_elasticities', client=client, job_id=estimate.id, market='C01Q2').parsed
    assert isinstance(elasticities, models.SubstitutionMatrix) and len(elasticities.matrix) == 24


def test_a_counterfactual_comes_back_typed(api, typed, estimate):
    client = typed
    models = importlib.import_module(f'{PACKAGE}.models')
    body = models.CounterfactualRequest.from_dict({'market': 'C01Q2', 'prices': {'F1B04': 0.0388588575}})
    job = call(api, 'derived_jobs.create_counterfactual', client=client, job_id=estimate.id, body=body).parsed
    assert isinstance(job, models.Job) and job.kind == 'counterfactual'
    finished(api, client, job.id)
    result = call(api, 'results.get_result', client=client, job_id=job.id).parsed
    assert isinstance(result, models.CounterfactualResult) and result.mode == 'prices'
    cut = next(product for product in result.products if product.product_id == 'F1B04')
    assert cut.price_after == pytest.approx(0.0388588575) and cut.share_change_percent > 0


def test_a_bad_request_is_a_typed_problem_naming_the_column(api, typed, data):
    client = typed
    models = importlib.import_module(f'{PACKAGE}.models')
    spec = rc_spec()
    spec['problem']['product_formulations'][1] = {'formula': '0 + sugar + prices'}
    request = models.JobRequest.from_dict({'product_data': {'dataset_id': data['products']},
                                           'agent_data': {'dataset_id': data['agents']}, 'spec': spec})
    response = call(api, 'jobs.create_job', client=client, body=request)
    assert response.status_code == 422 and isinstance(response.parsed, models.Problem)
    assert 'sugar' in response.parsed.detail and response.parsed.column == 'sugar'
    missing = call(api, 'jobs.get_job', client=client, job_id='0' * 32)
    assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
