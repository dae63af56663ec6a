"""Uploading datasets: content addressing across formats, and 4xx problem documents for bad uploads."""

from __future__ import annotations

import json

import pandas as pd

from api_support import assert_problem, csv_bytes, parquet_bytes, upload


def test_csv_upload_reports_id_rows_columns_and_markets(client, products):
    response = upload(client, products)
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body['id']) == 64 and response.headers['location'] == f"/v1/datasets/{body['id']}"
    assert body['rows'] == len(products) and body['markets'] == products['market_ids'].nunique()
    assert {column['name'] for column in body['columns']} == set(products.columns)
    assert client.get(f"/v1/datasets/{body['id']}").json() == body


def test_the_same_data_in_any_format_or_column_order_is_one_dataset(client, products):
    first = upload(client, products)
    assert first.status_code == 201
    dataset_id = first.json()['id']
    again = upload(client, products[products.columns[::-1]])
    as_json = client.post('/v1/datasets', json={'columns': {c: products[c].tolist() for c in products.columns}})
    as_parquet = client.post('/v1/datasets', content=parquet_bytes(products),
                             headers={'Content-Type': 'application/vnd.apache.parquet'})
    as_octets = client.post('/v1/datasets', content=parquet_bytes(products),
                            headers={'Content-Type': 'application/octet-stream'})
    for response in (again, as_json, as_parquet, as_octets):
        assert response.status_code == 200, response.text
        assert response.json()['id'] == dataset_id


def test_changed_data_is_another_dataset(client, products):
    changed = products.copy()
    changed.loc[5, 'prices'] += 1e-9
    assert upload(client, products).json()['id'] != upload(client, changed).json()['id']


def test_nan_in_csv_names_column_and_row(client, products):
    broken = products.copy()
    broken['prices'] = broken['prices'].astype(object)
    broken.loc[7, 'prices'] = 'NaN'
    assert_problem(upload(client, broken), 422, column='prices', row=7)


def test_infinity_in_csv_names_column_and_row(client, products):
    text = csv_bytes(products.head(3)).decode().splitlines()
    cells = text[2].split(',')
    cells[text[0].split(',').index('shares')] = 'inf'
    text[2] = ','.join(cells)
    response = client.post('/v1/datasets', content='\n'.join(text).encode(), headers={'Content-Type': 'text/csv'})
    assert_problem(response, 422, column='shares', row=1)


def test_nan_and_infinity_tokens_in_json_are_rejected_without_echo(client):
    for token in ('NaN', 'Infinity', '-Infinity'):
        body = '{"columns": {"market_ids": ["a", "b"], "prices": [1.0, %s]}}' % token
        response = client.post('/v1/datasets', content=body, headers={'Content-Type': 'application/json'})
        problem = assert_problem(response, 422)
        assert token in problem['detail']
        json.loads(response.text, parse_constant=lambda t: (_ for _ in ()).throw(AssertionError(t)))


def test_empty_upload_is_rejected(client):
    for content_type in ('text/csv', 'application/vnd.apache.parquet', 'application/json'):
        assert_problem(client.post('/v1/datasets', content=b'', headers={'Content-Type': content_type}), 422)
    assert_problem(client.post('/v1/datasets', content=b'market_ids,prices\n', headers={'Content-Type': 'text/csv'}),
                   422)


def test_malformed_csv_names_the_row(client):
    body = b'market_ids,prices\na,1.0\nb,2.0,3.0\n'
    assert_problem(client.post('/v1/datasets', content=body, headers={'Content-Type': 'text/csv'}), 422, row=1)


def test_malformed_parquet_is_rejected(client, products):
    truncated = parquet_bytes(products)[:200]
    response = client.post('/v1/datasets', content=truncated, headers={'Content-Type': 'application/vnd.apache.parquet'})
    assert 'Parquet' in assert_problem(response, 422)['detail']


def test_unsupported_media_type_is_415(client):
    response = client.post('/v1/datasets', content=b'<xml/>', headers={'Content-Type': 'application/xml'})
    assert_problem(response, 415)


def test_duplicate_and_missing_market_columns_are_named(client):
    csv = b'market_ids,prices,prices\na,1,2\n'
    assert_problem(client.post('/v1/datasets', content=csv, headers={'Content-Type': 'text/csv'}), 422,
                   column='prices')
    assert_problem(client.post('/v1/datasets', json={'columns': {'prices': [1.0]}}), 422, column='market_ids')


def test_json_columns_of_unequal_length_or_unknown_fields_are_rejected(client):
    assert_problem(client.post('/v1/datasets', json={'columns': {'market_ids': ['a', 'b'], 'prices': [1.0]}}), 422,
                   column='prices')
    assert_problem(client.post('/v1/datasets', json={'columns': {'market_ids': ['a']}, 'extra': 1}), 422)
    assert_problem(client.post('/v1/datasets', json={'columns': {'market_ids': ['a'], 'x': [None]}}), 422,
                   column='x', row=0)


def test_body_over_the_limit_is_413_problem_json(make_client, products):
    client = make_client(max_body_bytes=1000)
    declared = upload(client, products)
    assert_problem(declared, 413)

    def chunks():  # no Content-Length: the limit is enforced while streaming
        body = csv_bytes(products)
        for start in range(0, len(body), 500):
            yield body[start:start + 500]

    streamed = client.post('/v1/datasets', content=chunks(), headers={'Content-Type': 'text/csv'})
    assert_problem(streamed, 413)


def test_unknown_dataset_is_404(client):
    assert_problem(client.get('/v1/datasets/' + '0' * 64), 404)
    assert_problem(client.delete('/v1/datasets/' + '0' * 64), 404)


def test_deleted_dataset_is_gone(client, products):
    dataset_id = upload(client, products.head(24)).json()['id']
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204
    assert_problem(client.get(f'/v1/datasets/{dataset_id}'), 404)
    assert upload(client, products.head(24)).status_code == 201


def test_integer_and_text_columns_keep_their_types(client):
    frame = pd.DataFrame({'market_ids': ['a', 'b'], 'firm_ids': [1, 2], 'prices': [1.5, 2.0]})
    columns = {c['name']: c['type'] for c in upload(client, frame).json()['columns']}
    assert columns == {'market_ids': 'string', 'firm_ids': 'integer', 'prices': 'number'}
