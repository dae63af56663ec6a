"""The stored form of a dataset: a canonical frame as zstd-compressed Parquet, written by the API, read by the worker."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_frame(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of a canonical frame (what the store keeps and the worker reads)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression='zstd')
    return sink.getvalue().to_pybytes()


def read_frame(data: bytes) -> pd.DataFrame:
    return pq.read_table(pa.BufferReader(data)).to_pandas()
