"""Uploads to canonical data frames: parsing CSV, Parquet and JSON columns, checking, hashing, storing.

A dataset's id is the sha256 of a canonical serialization (columns sorted by name; every column int64,
float64 or string; -0.0 folded into 0.0), so the same data uploaded twice, in any of the three formats
or column orders, is one dataset. Rows keep their order: it is the product order of the core.
The stored form (Parquet) is jobstore.codec's, which the worker reads back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from typing import Any, Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobstore.codec import write_frame
from jobstore.problems import ProblemDetails
from jobstore.store import Store

CSV_TYPES = {'text/csv', 'application/csv'}
PARQUET_TYPES = {'application/vnd.apache.parquet', 'application/octet-stream', 'application/x-parquet'}
JSON_TYPES = {'application/json'}
MAX_COLUMNS = 1000


class DatasetError(ValueError):
    """Uploaded data that cannot be read or stored; names the column and row (0-based data row) at fault."""

    def __init__(self, message: str, *, status: int = 422, column: Optional[str] = None,
                 row: Optional[int] = None, market: Optional[str] = None, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.column, self.row, self.market, self.field = status, column, row, market, field


# ------------------------------------------------------------------------------------------ parsing

def parse_upload(body: bytes, content_type: str) -> pd.DataFrame:
    """A frame from an upload body, by media type (parameters such as `charset` are ignored)."""
    media = content_type.split(';')[0].strip().lower()
    if not body or not body.strip():
        raise DatasetError('the upload is empty')
    if media in CSV_TYPES:
        return _from_csv(body)
    if media in PARQUET_TYPES:
        return _from_parquet(body)
    if media in JSON_TYPES:
        return from_columns(_json_columns(body))
    raise DatasetError(f'unsupported media type {media!r}: send text/csv, application/vnd.apache.parquet '
                       'or application/json', status=415)


def _from_csv(body: bytes) -> pd.DataFrame:
    try:
        text = body.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        raise DatasetError(f'the CSV is not UTF-8 text (byte {error.start})') from None
    header = next(csv.reader(io.StringIO(text, newline='')), [])  # CR, LF, CRLF: as pandas and the chunked parser
    _check_names(header)
    try:
        frame = pd.read_csv(io.StringIO(text), keep_default_na=True, skip_blank_lines=True)
    except pd.errors.ParserError as error:
        raise DatasetError(f'malformed CSV: {error}', row=_csv_row(str(error))) from None
    except (pd.errors.EmptyDataError, ValueError) as error:
        raise DatasetError(f'malformed CSV: {error}') from None
    if frame.empty:
        raise DatasetError('the CSV has a header but no rows')
    return frame


def _csv_row(message: str) -> Optional[int]:
    """pandas says 'Expected 7 fields in line 5, saw 8'; line 5 is data row 3 (0-based, after the header)."""
    words = message.replace(',', ' ').split()
    for word, following in zip(words, words[1:]):
        if word == 'line' and following.isdigit():
            return int(following) - 2
    return None


def _from_parquet(body: bytes) -> pd.DataFrame:
    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DatasetError(f'malformed Parquet: {error}') from None
    _check_names(table.column_names)
    for field in table.schema:
        if pa.types.is_nested(field.type) or pa.types.is_binary(field.type):
            raise DatasetError(f'column {field.name!r} has type {field.type}: only numbers and strings are '
                               'supported', column=field.name)
    if table.num_rows == 0:
        raise DatasetError('the Parquet file has no rows')
    return table.to_pandas()


class _NonFinite:
    """Stands for a `NaN`/`Infinity` token of a JSON body until `from_columns` can name its column and row."""

    def __init__(self, token: str) -> None:
        self.token = token


def _json_columns(body: bytes) -> Any:
    try:
        document = json.loads(body, parse_constant=_NonFinite)
    except (ValueError, UnicodeDecodeError) as error:
        raise DatasetError(f'malformed JSON: {error}', status=400) from None
    except RecursionError:
        raise DatasetError('malformed JSON: nested too deeply to parse (arrays or objects hundreds of levels deep)',
                           status=400) from None
    if not isinstance(document, dict) or 'columns' not in document:
        raise DatasetError('the JSON body must be {"columns": {"name": [values, ...], ...}}')
    unknown = sorted(set(document) - {'columns'})
    if unknown:
        raise DatasetError(f'unknown field {unknown[0]!r}: the JSON body must be {{"columns": {{...}}}} only',
                           field=unknown[0])
    return document['columns']


def from_columns(columns: Any) -> pd.DataFrame:
    """A frame from `{"name": [values, ...]}`: lists of equal length holding numbers or strings."""
    if not isinstance(columns, dict) or not columns:
        raise DatasetError('"columns" must be a non-empty object of name -> list of values')
    _check_names(list(columns))
    lengths = {name: len(values) if isinstance(values, list) else -1 for name, values in columns.items()}
    for name, length in lengths.items():
        if length < 0:
            raise DatasetError(f'column {name!r} must be a list of values', column=name)
    first = next(iter(columns))
    for name, length in lengths.items():
        if length != lengths[first]:
            raise DatasetError(f'column {name!r} has {length} values but {first!r} has {lengths[first]}',
                               column=name)
    if lengths[first] == 0:
        raise DatasetError('the columns have no rows')
    for name, values in columns.items():
        for row, value in enumerate(values):
            if isinstance(value, (dict, list)):
                raise DatasetError(f'column {name!r} row {row} holds a nested value', column=name, row=row)
            if isinstance(value, _NonFinite):
                raise DatasetError(f'column {name!r} row {row} holds the non-finite number {value.token}: JSON has '
                                   'no NaN or Infinity; send finite numbers only', column=name, row=row)
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def _check_names(names: list) -> None:
    if not names:
        raise DatasetError('the data has no columns')
    if len(names) > MAX_COLUMNS:
        raise DatasetError(f'the data has {len(names)} columns; at most {MAX_COLUMNS} are allowed')
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(f'column names must be non-empty strings, got {name!r}')
        if any(ord(character) < 32 or ord(character) == 127 for character in name):
            raise DatasetError(f'column name {name!r} holds a control character (such as NUL or a line break)',
                               column=name)
        if name in seen:
            raise DatasetError(f'column {name!r} appears twice', column=name)
        seen.add(name)


# ------------------------------------------------------------------------------------------ canonical form

def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted columns, each int64, float64 or str, with no missing or non-finite value, and market_ids present."""
    if 'market_ids' not in frame.columns:
        raise DatasetError('the data needs a market_ids column', column='market_ids')
    columns = {}
    for name in sorted(frame.columns):
        columns[name] = _canonical_column(name, frame[name])
    return pd.DataFrame(columns).reset_index(drop=True)


def _canonical_column(name: str, series: pd.Series) -> pd.Series:
    values = series.reset_index(drop=True)
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DatasetError(f'column {name!r} has a missing or NaN value in row {row}', column=name, row=row)
    if pd.api.types.is_bool_dtype(values):
        return values.astype('int64')
    if pd.api.types.is_integer_dtype(values):
        return values.astype('int64')
    if pd.api.types.is_float_dtype(values):
        return _finite(name, values.astype('float64'))
    # Object columns (JSON, mixed CSV): all numbers stay numeric, anything else makes the column text.
    items = values.tolist()
    if all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in items):
        return pd.Series(items, dtype='int64')
    if all(isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(item, bool)
           for item in items):
        return _finite(name, pd.Series(items, dtype='float64'))
    for row, item in enumerate(items):
        if isinstance(item, float) and not math.isfinite(item):
            raise DatasetError(f'column {name!r} has a non-finite number in row {row}', column=name, row=row)
    nul = first_nul(items)
    if nul is not None:
        raise nul_error(name, nul)
    return pd.Series([str(item) for item in items], dtype=object)


def first_nul(items: list) -> Optional[int]:
    """The first row whose text holds a NUL byte (no id, label or name has one; C libraries and Redis keys end there)."""
    return next((row for row, item in enumerate(items) if isinstance(item, str) and '\x00' in item), None)


def nul_error(name: str, row: int) -> DatasetError:
    return DatasetError(f'column {name!r} holds a NUL byte in row {row}', column=name, row=row)


def _finite(name: str, values: pd.Series) -> pd.Series:
    array = values.to_numpy()
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetError(f'column {name!r} has a non-finite number ({array[row]}) in row {row}',
                           column=name, row=row)
    return pd.Series(array + 0.0, dtype='float64')  # + 0.0 folds -0.0 into 0.0


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the canonical frame: per column its name, type and values in a version-independent encoding."""
    digest = hashlib.sha256(b'blp-dataset/1\n')
    for name in frame.columns:
        values = frame[name]
        if values.dtype == np.float64:
            kind, payload = 'f8', values.to_numpy().astype('<f8').tobytes()
        elif values.dtype == np.int64:
            kind, payload = 'i8', values.to_numpy().astype('<i8').tobytes()
        else:
            kind, payload = 'str', json.dumps(values.tolist(), ensure_ascii=False).encode()
        digest.update(json.dumps([name, kind, len(values), len(payload)]).encode() + b'\n')
        digest.update(payload)
    return digest.hexdigest()


def describe(frame: pd.DataFrame, dataset_id: str) -> dict[str, Any]:
    """What `GET /v1/datasets/{id}` reports, computed once at upload, and the rows of its largest market (not
    shown: with the rest, what the API costs a job on it by without reading it, `service.budget.table`)."""
    per_market = frame['market_ids'].value_counts()
    return {
        'id': dataset_id,
        'rows': int(len(frame)),
        'columns': [{'name': name, 'type': {'float64': 'number', 'int64': 'integer'}.get(str(frame[name].dtype), 'string')}
                    for name in frame.columns],
        'markets': int(len(per_market)),
        'largest_market': int(per_market.max()) if len(per_market) else 0,
    }


def prepare(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any], bytes]:
    """Canonicalize a parsed frame: (frame, its description with the content id, its stored bytes)."""
    frame = canonical(frame)
    meta = describe(frame, content_hash(frame))
    return frame, meta, write_frame(frame)


# ------------------------------------------------------------------------------------------ storing

def dataset_problem_details(error: DatasetError, field: Optional[str] = None) -> ProblemDetails:
    """The problem document of a dataset's fault (415 for a media type, 400 for malformed JSON, else 422), naming what
    it names."""
    slug, title = {415: ('unsupported-media-type', 'Unsupported media type'),
                   400: ('malformed-json', 'Malformed JSON')}.get(error.status, ('invalid-dataset', 'Invalid dataset'))
    return ProblemDetails(error.status, slug, title, str(error), column=error.column, row=error.row, market=error.market,
                          field=error.field or field)


def prepare_frame(frame: pd.DataFrame, field: Optional[str] = None) -> tuple[dict[str, Any], pd.DataFrame, bytes]:
    """Canonicalize a frame without storing it: (its description, the canonical frame, the bytes to store)."""
    try:
        frame, meta, data = prepare(frame)
    except DatasetError as error:
        raise dataset_problem_details(error, field) from None
    return meta, frame, data


def store_frame(store: Store, frame: pd.DataFrame, owner: str,
                field: Optional[str] = None) -> tuple[dict[str, Any], pd.DataFrame, bool]:
    """Canonicalize and store a frame: (its description, the canonical frame, whether it is new to this owner)."""
    meta, frame, data = prepare_frame(frame, field)
    created = store.put_dataset(meta, data, owner)
    return meta, frame, created
