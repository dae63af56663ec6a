"""`blp_client` against the real stack (uvicorn, Redis, a Celery worker): what a notebook user would do."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from live_support import FIXTURES, STARTS, rc_spec

import blp_client
from examples import cereal

pytestmark = pytest.mark.queue


@pytest.fixture(scope='module')
def estimate(client: blp_client.Client, data: dict[str, str]) -> dict:
    return client.estimate(data['products'], rc_spec(), agent_data=data['agents'])


def test_estimate_result_has_pyblp_like_attributes_matching_pyblp(client, estimate):
    assert estimate['status'] == 'succeeded'
    results = client.result(estimate)
    reference = json.loads((FIXTURES / 'cereal_sigma_prices.json').read_text())
    assert results.sigma_labels == ['mushy', 'prices'] and results.pi_labels == ['log_income']
    assert results.beta_labels == ['prices']
    for name in ('beta', 'sigma', 'pi'):
        np.testing.assert_allclose(getattr(results, name), reference[name], rtol=1e-4, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(results.sigma_se[1, 1], reference['sigma_se'][1][1], rtol=1e-3)
    np.testing.assert_allclose(results.pi_se, reference['pi_se'], rtol=1e-3)
    assert results.converged and results.hessian_eigenvalues.min() > 0
    frame = results.to_frame()
    sigma = frame[(frame['kind'] == 'sigma') & (frame['row'] == 'prices') & (frame['column'] == 'prices')].iloc[0]
    assert sigma['ci_lower'] == pytest.approx(sigma['value'] - 1.959964 * sigma['se'])


def test_elasticities_frame_equals_the_json_labelled_by_product_ids(client, stack, estimate):
    frame = client.elasticities(estimate, 'C01Q2')
    raw = httpx.get(f"{stack.url}/v1/jobs/{estimate['id']}/elasticities", params={'market': 'C01Q2'},
                    headers={'Authorization': f'Bearer {stack.api_key}'}).json()
    assert frame.shape == (24, 24)
    assert list(frame.index) == list(frame.columns) == raw['product_ids']
    np.testing.assert_array_equal(frame.to_numpy(), np.array(raw['matrix'], dtype=float))
    assert (np.diag(frame.to_numpy()) < 0).all()
    diversion = client.diversion_ratios(estimate, 'C01Q2')
    assert list(diversion.index) == raw['product_ids']


def test_counterfactual_price_cut_as_a_frame_per_product(client, estimate):
    job = client.counterfactual(estimate, market='C01Q2', prices={'F1B04': 0.0388588575})
    assert job['kind'] == 'counterfactual' and job['parent_job_id'] == estimate['id']
    result = client.result(job)
    assert isinstance(result, blp_client.CounterfactualResult) and result.mode == 'prices'
    products = result.to_frame().set_index('product_id')
    assert len(products) == 24 and products.loc['F1B04', 'price_after'] == pytest.approx(0.0388588575)
    assert products.loc['F1B04', 'share_change_percent'] > 0
    assert (products.drop(index='F1B04')['share_change_percent'] < 0).all()


def test_multistart_reports_every_start_and_the_chosen_one(client, data):
    job = client.multistart(data['products'], rc_spec(), STARTS, agent_data=data['agents50'])
    results = client.result(job)
    report = results.multistart
    assert len(report.starts) == 3 and report.chosen_start in range(3)
    chosen = report.starts[report.chosen_start]
    assert results.objective == pytest.approx(chosen.objective)
    assert results.sigma[1, 1] == pytest.approx(chosen.theta[0])


def test_invalid_input_is_a_typed_error_naming_the_column(client, data):
    spec = rc_spec()
    spec['problem']['product_formulations'][1] = {'formula': '0 + sugar + prices'}
    with pytest.raises(blp_client.InvalidInput) as caught:
        client.estimate(data['products'], spec, agent_data=data['agents50'])
    error = caught.value
    assert error.status == 422 and error.column == 'sugar' and 'sugar' in error.detail
    assert error.details.column == 'sugar' and error.details.status == 422  # the typed Problem
    with pytest.raises(blp_client.InvalidInput) as caught:
        client.estimate(data['products'], {**spec, 'solve': {'method': '3s'}})
    assert caught.value.field == 'spec.solve.method'


def test_an_unknown_job_and_a_wrong_key_are_typed_errors(client, stack):
    with pytest.raises(blp_client.NotFound):
        client.result('0' * 32)
    with blp_client.Client(stack.url, 'not-a-key') as stranger, pytest.raises(blp_client.Unauthorized):
        stranger.jobs()


class DropFirstResponse(httpx.HTTPTransport):
    """Delivers the first job submission to the service, then loses its answer as a dropped connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == 'POST' and request.url.path == '/v1/jobs':
            self.keys.append(request.headers['Idempotency-Key'])
            if len(self.keys) == 1:
                response.read()
                raise httpx.ReadError('connection reset', request=request)
        return response


def test_a_lost_answer_is_retried_with_the_same_idempotency_key_and_queues_one_job(stack, data):
    transport = DropFirstResponse()
    with blp_client.Client(stack.url, stack.api_key, transport=transport, backoff=0.01) as flaky:
        before = {job['id'] for job in flaky.jobs()}
        job = flaky.estimate(data['products'], rc_spec(), agent_data=data['agents50'], wait=False)
        created = [item for item in flaky.jobs() if item['id'] not in before]
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert [item['id'] for item in created] == [job['id']]


def test_upload_accepts_csv_and_parquet_files_with_the_same_id(client, tmp_path):
    frame = cereal.product_data('price')
    frame.to_csv(tmp_path / 'products.csv', index=False)
    frame.to_parquet(tmp_path / 'products.parquet', index=False)
    assert client.upload(tmp_path / 'products.csv') == client.upload(tmp_path / 'products.parquet') \
        == client.upload(frame)
    with pytest.raises(ValueError):
        client.upload(tmp_path / 'products.xlsx')


def test_progress_line_shows_while_waiting_only_when_asked_or_on_a_terminal(stack, data, capsys):
    with blp_client.Client(stack.url, stack.api_key, progress=True) as shown:
        job = shown.estimate(data['products'], rc_spec(), agent_data=data['agents50'])
    err = capsys.readouterr().err
    assert err.startswith('\restimate ') and err.endswith('\n') and f"{job['id'][:8]} succeeded" in err
    with blp_client.Client(stack.url, stack.api_key) as automatic:  # stderr is captured here: not a terminal
        automatic.estimate(data['products'], rc_spec(), agent_data=data['agents50'])
    assert capsys.readouterr().err == ''


def test_a_job_that_fails_raises_job_failed_with_its_problem(client, data):
    starved = rc_spec(iteration={'method': 'simple', 'method_options': {'atol': 1e-14, 'max_evaluations': 1}},
                      error_behavior='raise')
    with pytest.raises(blp_client.JobFailed) as caught:
        client.estimate(data['products'], starved, agent_data=data['agents50'])
    error = caught.value
    assert error.job['status'] == 'failed' and error.status == 422 and error.problem['title']
    assert error.problem == client.job(error.job)['error']
