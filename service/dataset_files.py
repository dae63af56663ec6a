"""An uploaded file to a canonical stored dataset, in memory bounded by a chunk rather than by the file.

Why: parsing a 253 MB CSV whole (bytes, decoded text, pandas' parse, the canonical copy, the Parquet bytes) took
7.5 times the file in memory. Here the upload is read from its spooled file in chunks of rows, twice:

1. scan: UTF-8, the header's names, parse errors, and per column its kind (integer, number, boolean or text), its
   first missing value and its first non-finite number, combined over chunks as a whole-file parse would decide;
2. write: the chunks again with each column's final type, canonicalized and appended to a Parquet file (the stored
   form of jobstore.codec, in row groups);

then the content hash reads that file back one column at a time. Errors, their order and their messages are those
of `datasets.parse_upload` + `datasets.canonical` (which JSON bodies and inline job data still use), and the id is
the same content hash, so a dataset has one id whichever way it arrived.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobstore.codec import write_frame
from service.datasets import (
    CSV_TYPES,
    JSON_TYPES,
    PARQUET_TYPES,
    DatasetError,
    _check_names,
    _csv_row,
    _json_columns,
    canonical,
    content_hash,
    describe,
    first_nul,
    from_columns,
    nul_error,
)

CELLS_PER_CHUNK = 2_000_000  # rows per chunk = this / columns: about 16 MB of float64 whatever the width
MIN_ROWS_PER_CHUNK = 1_000
READ_BYTES = 1 << 20

# Kinds a chunk's column can have, and what a whole column becomes: as pandas decides for a whole file, mixing
# integers and numbers gives numbers, and anything mixed with text (or booleans with numbers) gives text.
INTEGER, NUMBER, BOOLEAN, TEXT = 'integer', 'number', 'boolean', 'text'


@dataclass
class ColumnScan:
    """What the scan learned of one column over all chunks."""

    kinds: set[str]
    missing_row: Optional[int] = None
    nonfinite_row: Optional[int] = None  # in a number chunk: (row, value) as canonical reports it
    nonfinite_value: Optional[float] = None
    nonfinite_item_row: Optional[int] = None  # a non-finite float among text values (JSON)
    nul_row: Optional[int] = None  # a text value holding a NUL byte

    @property
    def kind(self) -> str:
        if self.kinds <= {INTEGER}:
            return INTEGER
        if self.kinds <= {INTEGER, NUMBER}:
            return NUMBER
        if self.kinds == {BOOLEAN}:
            return BOOLEAN
        return TEXT


def store_file(path: Path, content_type: str, output: Path) -> dict[str, Any]:
    """Parse the upload at `path`, write its stored form (Parquet) to `output`, return its description with its id."""
    media = content_type.split(';')[0].strip().lower()
    _nonempty(path)
    if media in CSV_TYPES:
        source: _Source = _CsvSource(path)
    elif media in PARQUET_TYPES:
        source = _ParquetSource(path)
    elif media in JSON_TYPES:
        return _store_json(path, output)
    else:
        raise DatasetError(f'unsupported media type {media!r}: send text/csv, application/vnd.apache.parquet '
                           'or application/json', status=415)
    scans, rows = _scan(source)
    if rows == 0:
        raise DatasetError(source.no_rows)
    if 'market_ids' not in scans:
        raise DatasetError('the data needs a market_ids column', column='market_ids')
    names = sorted(scans)
    for name in names:
        _raise_first_fault(name, scans[name])
    kinds = {name: scans[name].kind for name in names}
    _write(source, kinds, output)
    return _describe_stored(output, rows)


def _nonempty(path: Path) -> None:
    with path.open('rb') as file:
        while chunk := file.read(READ_BYTES):
            if chunk.strip():
                return
    raise DatasetError('the upload is empty')


# ------------------------------------------------------------------------------------------ sources

class _Source:
    names: list[str]
    no_rows: str

    def chunks(self, text: frozenset[str] = frozenset()) -> Iterator[pd.DataFrame]:
        """Frames of consecutive rows; the columns in `text` as their original text."""
        raise NotImplementedError


class _CsvSource(_Source):
    no_rows = 'the CSV has a header but no rows'

    def __init__(self, path: Path) -> None:
        self.path = path
        _check_utf8(path)
        with path.open(encoding='utf-8-sig', newline='') as file:
            header = next(csv.reader(file), [])
        _check_names(header)
        self.names = header
        self.rows_per_chunk = max(MIN_ROWS_PER_CHUNK, CELLS_PER_CHUNK // len(header))

    def chunks(self, text: frozenset[str] = frozenset()) -> Iterator[pd.DataFrame]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', pd.errors.DtypeWarning)
                with pd.read_csv(self.path, encoding='utf-8-sig', keep_default_na=True, skip_blank_lines=True,
                                 chunksize=self.rows_per_chunk, dtype={name: str for name in text} or None) as reader:
                    yield from reader
        except pd.errors.ParserError as error:
            raise DatasetError(f'malformed CSV: {error}', row=_csv_row(str(error))) from None
        except (pd.errors.EmptyDataError, ValueError) as error:
            raise DatasetError(f'malformed CSV: {error}') from None


def _check_utf8(path: Path) -> None:
    """The whole file decodes as UTF-8 (after an optional byte order mark); else the error bytes.decode gave."""
    decoder = codecs.getincrementaldecoder('utf-8')()
    offset, first = 0, True
    with path.open('rb') as file:
        while True:
            chunk = file.read(READ_BYTES)
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[3:]  # positions count from after the mark, as bytes.decode('utf-8-sig') counts them
            first = False
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                raise DatasetError(f'the CSV is not UTF-8 text (byte {offset - pending + error.start})') from None
            offset += len(chunk)
            if not chunk:
                break


class _ParquetSource(_Source):
    no_rows = 'the Parquet file has no rows'

    def __init__(self, path: Path) -> None:
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError, ValueError) as error:
            raise DatasetError(f'malformed Parquet: {error}') from None
        schema = self.file.schema_arrow
        _check_names(schema.names)
        for field in schema:
            if pa.types.is_nested(field.type) or pa.types.is_binary(field.type):
                raise DatasetError(f'column {field.name!r} has type {field.type}: only numbers and strings are '
                                   'supported', column=field.name)
        self.names = schema.names
        self.rows_per_chunk = max(MIN_ROWS_PER_CHUNK, CELLS_PER_CHUNK // max(1, len(self.names)))

    def chunks(self, text: frozenset[str] = frozenset()) -> Iterator[pd.DataFrame]:
        try:
            for batch in self.file.iter_batches(batch_size=self.rows_per_chunk):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError, ValueError) as error:
            raise DatasetError(f'malformed Parquet: {error}') from None


# ------------------------------------------------------------------------------------------ scan

def _scan(source: _Source) -> tuple[dict[str, ColumnScan], int]:
    """Each column's scan (named as the parser names it) and the number of rows."""
    scans = {name: ColumnScan(set()) for name in source.names}
    rows = 0
    for chunk in source.chunks():
        if rows == 0:
            scans = {str(name): ColumnScan(set()) for name in chunk.columns}
        for name, scan in scans.items():
            _scan_column(scan, chunk[name], rows)
        rows += len(chunk)
    return scans, rows


def _scan_column(scan: ColumnScan, values: pd.Series, offset: int) -> None:
    """Fold one chunk of a column into its scan (the checks of datasets._canonical_column, row numbers global)."""
    missing = values.isna().to_numpy()
    if scan.missing_row is None and missing.any():
        scan.missing_row = offset + int(np.flatnonzero(missing)[0])
    if pd.api.types.is_bool_dtype(values):
        scan.kinds.add(BOOLEAN)
    elif pd.api.types.is_integer_dtype(values):
        scan.kinds.add(INTEGER)
    elif pd.api.types.is_float_dtype(values):
        scan.kinds.add(NUMBER)
        _note_nonfinite(scan, values.to_numpy(dtype='float64'), offset)
    else:
        items = values.tolist()
        if all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in items):
            scan.kinds.add(INTEGER)
        elif all(isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(item, bool)
                 for item in items):
            scan.kinds.add(NUMBER)
            _note_nonfinite(scan, np.asarray(items, dtype='float64'), offset)
        else:
            scan.kinds.add(TEXT)
            if scan.nul_row is None and (row := first_nul(items)) is not None:
                scan.nul_row = offset + row
            if scan.nonfinite_item_row is None:
                for row, item in enumerate(items):
                    if isinstance(item, float) and not np.isfinite(item):
                        scan.nonfinite_item_row = offset + row
                        break


def _note_nonfinite(scan: ColumnScan, array: np.ndarray, offset: int) -> None:
    if scan.nonfinite_row is None:
        bad = ~np.isfinite(array) & ~np.isnan(array)  # NaN is a missing value, reported as such
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            scan.nonfinite_row, scan.nonfinite_value = offset + row, float(array[row])


def _raise_first_fault(name: str, scan: ColumnScan) -> None:
    if scan.missing_row is not None:
        row = scan.missing_row
        raise DatasetError(f'column {name!r} has a missing or NaN value in row {row}', column=name, row=row)
    if scan.kind == NUMBER and scan.nonfinite_row is not None:
        row = scan.nonfinite_row
        raise DatasetError(f'column {name!r} has a non-finite number ({np.float64(scan.nonfinite_value)}) in row '
                           f'{row}', column=name, row=row)
    if scan.kind == TEXT and scan.nonfinite_item_row is not None:
        row = scan.nonfinite_item_row
        raise DatasetError(f'column {name!r} has a non-finite number in row {row}', column=name, row=row)
    if scan.kind == TEXT and scan.nul_row is not None:
        raise nul_error(name, scan.nul_row)


# ------------------------------------------------------------------------------------------ write

def _write(source: _Source, kinds: dict[str, str], output: Path) -> None:
    """The canonical chunks (sorted columns, int64 / float64 / str) appended to one Parquet file."""
    names = sorted(kinds)
    text = frozenset(name for name, kind in kinds.items() if kind == TEXT)
    writer: Optional[pq.ParquetWriter] = None
    schema = None
    try:
        for chunk in source.chunks(text):
            frame = pd.DataFrame({name: _canonical_chunk(chunk[name], kinds[name]) for name in names})
            if writer is None:
                schema = pa.Table.from_pandas(frame, preserve_index=False).schema
                writer = pq.ParquetWriter(output, schema, compression='zstd')
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
    finally:
        if writer is not None:
            writer.close()


def _canonical_chunk(values: pd.Series, kind: str) -> pd.Series:
    values = values.reset_index(drop=True)
    if kind in (INTEGER, BOOLEAN):
        return values.astype('int64')
    if kind == NUMBER:
        return pd.Series(values.to_numpy(dtype='float64') + 0.0, dtype='float64')  # + 0.0 folds -0.0 into 0.0
    return pd.Series([str(item) for item in values.tolist()], dtype=object)


def _describe_stored(output: Path, rows: int) -> dict[str, Any]:
    """`datasets.describe` of the stored file, and its `content_hash`, reading one column at a time."""
    stored = pq.ParquetFile(output)
    digest = hashlib.sha256(b'blp-dataset/1\n')
    columns, markets, largest = [], 0, 0
    for name in stored.schema_arrow.names:
        values = stored.read(columns=[name]).column(0)
        if pa.types.is_floating(values.type):
            kind, payload = 'f8', values.to_numpy().astype('<f8').tobytes()
        elif pa.types.is_integer(values.type):
            kind, payload = 'i8', values.to_numpy().astype('<i8').tobytes()
        else:
            kind, payload = 'str', _json_list(values)
        digest.update(json.dumps([name, kind, rows, len(payload)]).encode() + b'\n')
        digest.update(payload)
        columns.append({'name': name, 'type': {'f8': 'number', 'i8': 'integer'}.get(kind, 'string')})
        if name == 'market_ids':
            counts = pc.value_counts(values).field('counts')
            markets, largest = len(counts), int(pc.max(counts).as_py() or 0)
        del values, payload
    return {'id': digest.hexdigest(), 'rows': rows, 'columns': columns, 'markets': markets, 'largest_market': largest}


def _json_list(values: pa.ChunkedArray, step: int = 100_000) -> bytes:
    """`json.dumps(values.tolist(), ensure_ascii=False).encode()`, built a slice at a time."""
    pieces = [json.dumps(values.slice(start, step).to_pylist(), ensure_ascii=False)[1:-1]
              for start in range(0, len(values), step)]
    return ('[' + ', '.join(piece for piece in pieces if piece) + ']').encode()


# ------------------------------------------------------------------------------------------ JSON

def _store_json(path: Path, output: Path) -> dict[str, Any]:
    """JSON columns cannot be read a chunk at a time: parsed whole (in a parse process, under its memory limit)."""
    frame = canonical(from_columns(_json_columns(path.read_bytes())))

    output.write_bytes(write_frame(frame))
    return describe(frame, content_hash(frame))
