"""Uploading datasets: content addressing across formats, deletion, column types.

Bad uploads (each a 4xx problem document that stores nothing) are in test_api_bad_input_catalogue.py.
"""

from __future__ import annotations

import pandas as pd
from api_support import assert_problem, parquet_bytes, upload


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













def test_deleted_dataset_is_gone(client, products):
    dataset_id = upload(client, products.head(24)).json()['id']
    assert client.delete(f'/v1/datasets/{dataset_id}').status_code == 204
    assert_problem(client.get(f'/v1/datasets/{dataset_id}'), 404)
    assert upload(client, products.head(24)).status_code == 201


def test_integer_and_text_columns_keep_their_types(client):
    frame = pd.DataFrame({'market_ids': ['a', 'b'], 'firm_ids': [1, 2], 'prices': [1.5, 2.0]})
    columns = {c['name']: c['type'] for c in upload(client, frame).json()['columns']}
    assert columns == {'market_ids': 'string', 'firm_ids': 'integer', 'prices': 'number'}
