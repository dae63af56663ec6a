"""The chunked file parse (service.dataset_files) against the whole-body parse (datasets.parse_upload + prepare):
the same id, description and stored frame, and the same error naming the same column and row, when the data
spans many chunks (chunks shrunk to a few rows) and a column's kind changes between chunks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobstore.codec import read_frame
from service import dataset_files, datasets

CSV = 'text/csv'
PARQUET = 'application/vnd.apache.parquet'


def whole(body: bytes, content_type: str) -> tuple[dict, pd.DataFrame]:
    frame, meta, data = datasets.prepare(datasets.parse_upload(body, content_type))
    return meta, read_frame(data)


def chunked(tmp_path: Path, body: bytes, content_type: str) -> tuple[dict, pd.DataFrame]:
    upload, output = tmp_path / 'upload.body', tmp_path / 'stored.parquet'
    upload.write_bytes(body)
    meta = dataset_files.store_file(upload, content_type, output)
    return meta, read_frame(output.read_bytes())


def outcome(parse, *args) -> tuple:  # type: ignore[no-untyped-def]
    try:
        meta, frame = parse(*args)
    except datasets.DatasetError as error:
        return ('error', str(error), error.column, error.row, error.status)
    return ('ok', meta, frame)


def products(rows: int = 257) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({'market_ids': [f'm{k // 10}' for k in range(rows)], 'product_ids': np.arange(rows) % 10,
                         'shares': rng.uniform(0.01, 0.05, rows), 'prices': rng.normal(size=rows),
                         'mushy': rng.integers(0, 2, rows).astype(bool), 'sugar': np.arange(rows) * 1.0})


def with_cells(frame: pd.DataFrame, cells: dict[tuple[str, int], str]) -> bytes:
    """The frame as CSV with these cells replaced by raw text."""
    frame = frame.astype({column: object for column, _ in cells})
    for (column, row), text in cells.items():
        frame.loc[row, column] = text
    return frame.to_csv(index=False).encode()


CASES = {
    'plain': products().to_csv(index=False).encode(),
    'negative-zero-and-bom': b'\xef\xbb\xbf' + products().assign(prices=-0.0).to_csv(index=False).encode(),
    'integers-then-numbers': with_cells(products(), {('product_ids', 200): '2.5'}),
    'integers-then-text': with_cells(products(), {('product_ids', 230): 'x7'}),
    'numbers-then-text-keeps-text': with_cells(products(), {('sugar', 250): 'lots', ('sugar', 3): '3.50'}),
    'missing-late': with_cells(products(), {('shares', 240): 'NA'}),
    'missing-in-two-columns': with_cells(products(), {('sugar', 30): 'nan', ('prices', 200): ''}),
    'infinite-late': with_cells(products(), {('prices', 199): '-inf'}),
    'infinite-in-a-text-column': with_cells(products(), {('sugar', 10): 'inf', ('sugar', 200): 'text'}),
    'extra-field-late': products().to_csv(index=False).encode() + b'm99,1,0.1,0.2,True,1.0,surplus\n',
    'no-market-ids': products().drop(columns='market_ids').to_csv(index=False).encode(),
    'header-only': b'market_ids,prices\n',
    'not-utf8-late': products().to_csv(index=False).encode() + b'm99,1,0.1,\xff,True,1.0\n',
    'blank': b'  \n ',
    # line endings: a bare CR, CRLF and LF end a line alike, in the header as in the rows, whatever the body's size
    'cr-line-endings': products().to_csv(index=False, lineterminator='\r').encode(),
    'crlf-line-endings': products().to_csv(index=False, lineterminator='\r\n').encode(),
    'mixed-line-endings': b'market_ids,prices\r\na,1.0\rb,2.0\nc,3.0\r',
    'stray-cr-in-the-header': b'market_ids,pri\rces\na,1.0\nb,2.0\n',
    'quoted-cr-in-a-column-name': b'market_ids,"pri\rces"\na,1.0\nb,2.0\n',
    'nul-in-a-text-cell-late': with_cells(products(), {('market_ids', 230): 'm2\x003'}),
    'nul-after-a-missing-value': with_cells(products(), {('market_ids', 3): 'a\x00', ('sugar', 200): ''}),
    'nul-in-a-column-name': b'market_ids,pri\x00ces\na,1.0\nb,2.0\n',
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_a_chunked_csv_parse_matches_the_whole_body_parse(case, tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_files, 'CELLS_PER_CHUNK', 6 * 7)  # 7 rows a chunk (the minimum is lowered too)
    monkeypatch.setattr(dataset_files, 'MIN_ROWS_PER_CHUNK', 1)
    body = CASES[case]
    expected, got = outcome(whole, body, CSV), outcome(chunked, tmp_path, body, CSV)
    assert got[0] == expected[0], (got, expected)
    if expected[0] == 'error':
        assert got == expected
    else:
        assert got[1] == expected[1]
        pd.testing.assert_frame_equal(got[2], expected[2])


def test_a_chunked_parquet_parse_matches_the_whole_body_parse(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_files, 'CELLS_PER_CHUNK', 6 * 7)
    monkeypatch.setattr(dataset_files, 'MIN_ROWS_PER_CHUNK', 1)
    buffer = io.BytesIO()
    products().to_parquet(buffer, index=False, row_group_size=50)
    expected, got = whole(buffer.getvalue(), PARQUET), chunked(tmp_path, buffer.getvalue(), PARQUET)
    assert got[0] == expected[0]
    pd.testing.assert_frame_equal(got[1], expected[1])
    assert got[0]['id'] == chunked(tmp_path, CASES['plain'], CSV)[0]['id']  # one dataset whatever the format


def test_an_upload_parsed_in_a_parse_process_is_the_dataset_a_small_upload_gives(make_client, products):
    inline, in_process = make_client(), make_client(inline_parse_max_bytes=0)
    body = products.to_csv(index=False).encode()
    first = inline.post('/v1/datasets', content=body, headers={'Content-Type': 'text/csv'})
    inline.delete(f"/v1/datasets/{first.json()['id']}")
    second = in_process.post('/v1/datasets', content=body, headers={'Content-Type': 'text/csv'})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() | {'created_at': None} == first.json() | {'created_at': None}
    assert in_process.get(f"/v1/datasets/{first.json()['id']}").status_code == 200
    json_body = {'columns': {name: products[name].tolist() for name in products.columns}}
    assert in_process.post('/v1/datasets', json=json_body).json()['id'] == first.json()['id']


def test_csv_line_endings_give_one_dataset_whichever_parser_reads_it(make_client, products):
    """A bare CR (classic Mac), CRLF and LF: one dataset, parsed inline (small) or in a parse process (large)."""
    inline, in_process = make_client(), make_client(inline_parse_max_bytes=0)
    ids = set()
    for ending in ('\n', '\r\n', '\r'):
        body = products.to_csv(index=False, lineterminator=ending).encode()
        for client in (inline, in_process):
            response = client.post('/v1/datasets', content=body, headers={'Content-Type': 'text/csv'})
            assert response.status_code in (200, 201), (repr(ending), response.text)
            assert response.json()['rows'] == len(products)
            ids.add(response.json()['id'])
    assert len(ids) == 1


def test_a_parse_process_reports_bad_data_by_column_and_row(make_client, products):
    client = make_client(inline_parse_max_bytes=0)
    body = with_cells(products, {('prices', 7): 'NaN'})
    response = client.post('/v1/datasets', content=body, headers={'Content-Type': 'text/csv'})
    assert response.status_code == 422 and response.headers['content-type'].startswith('application/problem+json')
    assert (response.json()['column'], response.json()['row']) == ('prices', 7), response.text


def test_an_upload_over_the_parse_cap_gets_503_with_retry_after(make_client, products):
    client = make_client(inline_parse_max_bytes=0, max_concurrent_parses=1, validation_timeout_seconds=0.2)
    slots = client.app.state.parsers.processes.slots
    assert slots.acquire(timeout=1)  # a large upload is being parsed
    try:
        response = client.post('/v1/datasets', content=products.to_csv(index=False).encode(),
                               headers={'Content-Type': 'text/csv'})
    finally:
        slots.release()
    assert response.status_code == 503 and response.headers['retry-after'], response.text
    assert 'MAX_CONCURRENT_PARSES' in response.json()['detail']
