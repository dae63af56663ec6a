"""The committed OpenAPI document as a client generator reads it: every error is the one `Problem` schema under
`application/problem+json`, operation ids a person would choose, one tag per operation, typed 2xx bodies, uploads a
generator can send."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / 'openapi' / 'openapi.json').read_text())
OPERATIONS = [(path, method, operation) for path, operations in DOCUMENT['paths'].items()
              for method, operation in operations.items()]
PROBLEM = {'application/problem+json': {'schema': {'$ref': '#/components/schemas/Problem'}}}


def test_every_error_response_is_the_problem_schema_and_nothing_else():
    errors = [(path, method, status, response) for path, method, operation in OPERATIONS
              for status, response in operation['responses'].items() if int(status) >= 400]
    assert len(errors) > 50
    wrong = [(method, path, status) for path, method, status, response in errors if response['content'] != PROBLEM]
    assert not wrong, wrong
    assert 'HTTPValidationError' not in json.dumps(DOCUMENT) and 'ValidationError' not in DOCUMENT['components']['schemas']
    problem = DOCUMENT['components']['schemas']['Problem']
    assert {'type', 'title', 'status'} <= set(problem['required'])
    assert {'detail', 'instance', 'field', 'column', 'market', 'row', 'parameter'} <= set(problem['properties'])


def test_what_every_v1_operation_can_answer_is_documented():
    for path, method, operation in OPERATIONS:
        statuses = set(operation['responses'])
        if path.startswith('/v1/'):
            assert {'401', '503'} <= statuses, (method, path)
            assert operation['security'] == [{'bearer': []}, {}]
        if 'requestBody' in operation:
            assert {'400', '413', '415', '422'} <= statuses, (method, path)
        if path == '/v1/jobs/{job_id}' and method == 'get':
            assert '422' in statuses  # the job id is validated: printable, at most 128 characters
    assert DOCUMENT['components']['securitySchemes']['bearer'] == {
        'type': 'http', 'scheme': 'bearer', 'description': 'an API key, when the service is run with API_KEYS'}


def test_operation_ids_and_tags_are_chosen():
    ids = {operation['operationId'] for _, _, operation in OPERATIONS}
    assert {'create_job', 'list_jobs', 'get_job', 'cancel_job', 'delete_job', 'get_job_events', 'get_result',
            'get_comparison', 'get_elasticities', 'get_diversion_ratios', 'get_passthrough', 'get_micro_values',
            'create_importance_sample', 'create_micro_scores', 'create_agent_scores', 'create_counterfactual',
            'create_optimal_instruments', 'create_bootstrap', 'create_merger_screen', 'get_ranking', 'upload_dataset',
            'get_dataset', 'delete_dataset', 'get_health', 'get_readiness', 'get_metrics'} == ids
    assert all(len(operation['tags']) == 1 for _, _, operation in OPERATIONS)
    assert {tag['name'] for tag in DOCUMENT['tags']} == {operation['tags'][0] for _, _, operation in OPERATIONS}


def test_every_json_success_body_has_a_schema():
    untyped = [(method, path, status) for path, method, operation in OPERATIONS
               for status, response in operation['responses'].items() if int(status) < 300
               for media, content in response.get('content', {}).items()
               if media == 'application/json' and not content.get('schema')]
    assert not untyped, untyped
    result = DOCUMENT['paths']['/v1/jobs/{job_id}/result']['get']['responses']['200']['content']['application/json']
    assert {ref['$ref'].rpartition('/')[2] for ref in result['schema']['oneOf']} == {
        'EstimateResult', 'MultistartResult', 'CounterfactualResult', 'BootstrapResult', 'SweepResult',
        'MergerScreenResult'}
    parameter = DOCUMENT['components']['schemas']['Parameter']['properties']
    assert {'kind', 'row', 'column', 'value', 'se', 'interval'} <= set(parameter)
    trace = DOCUMENT['components']['schemas']['Estimate']['properties']['trace']
    assert trace['items'] == {'$ref': '#/components/schemas/TracePoint'}


def test_uploads_are_binary_bodies_with_their_media_types():
    body = DOCUMENT['paths']['/v1/datasets']['post']['requestBody']['content']
    for media in ('text/csv', 'application/vnd.apache.parquet', 'application/octet-stream'):
        assert body[media]['schema']['type'] == 'string' and body[media]['schema']['format'] == 'binary', media
