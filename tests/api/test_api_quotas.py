"""Per-key quotas: a submission rate (429 with Retry-After once the burst is spent) and a cap on queued + running
jobs; each key has its own."""

from __future__ import annotations

from api_support import LOGIT_SPEC, assert_problem, upload

ALPHA, BETA = 'alpha-key-0123456789', 'beta-key-0123456789'


def bearer(key: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {key}'}


def job(dataset_id: str) -> dict:
    return {'product_data': {'dataset_id': dataset_id}, 'spec': LOGIT_SPEC}


def test_submissions_past_the_rate_get_429_with_retry_after_and_other_keys_are_not_limited(make_client, products):
    client = make_client(api_keys=f'{ALPHA},{BETA}', submission_burst=3, submissions_per_minute=6)
    datasets = {key: upload(client, products, **bearer(key)).json()['id'] for key in (ALPHA, BETA)}
    for _ in range(3):
        assert client.post('/v1/jobs', json=job(datasets[ALPHA]), headers=bearer(ALPHA)).status_code == 202
    limited = client.post('/v1/jobs', json=job(datasets[ALPHA]), headers=bearer(ALPHA))
    problem = assert_problem(limited, 429)
    assert problem['type'] == 'urn:blp:problem:rate-limited' and problem['limit'] == 6
    assert 1 <= int(limited.headers['Retry-After']) <= 10  # one token every 10 s
    assert client.post('/v1/jobs', json=job(datasets[BETA]), headers=bearer(BETA)).status_code == 202
    assert len(client.get('/v1/jobs', headers=bearer(ALPHA)).json()['items']) == 3


def test_a_key_with_its_cap_of_unfinished_jobs_gets_429_until_one_ends(make_client, products):
    client = make_client(max_active_jobs_per_key=2)
    dataset_id = upload(client, products).json()['id']
    first, _ = (client.post('/v1/jobs', json=job(dataset_id)).json()['id'] for _ in range(2))
    capped = client.post('/v1/jobs', json=job(dataset_id))
    problem = assert_problem(capped, 429, limit=2)
    assert problem['type'] == 'urn:blp:problem:too-many-jobs' and capped.headers['Retry-After']
    assert client.post(f'/v1/jobs/{first}/cancel').status_code == 200  # cancelled: no longer counts
    assert client.post('/v1/jobs', json=job(dataset_id)).status_code == 202
