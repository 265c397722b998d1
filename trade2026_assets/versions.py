"""Content hashes of stored data: what a partition holds, as a short stable string.

A published partition records its own hash and its inputs' hashes (the warehouse table
`data_versions`), and Dagster shows the same hashes as data versions, so a step can tell
that its upstream changed since its input was derived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import polars as pl


def frame_version(frame: pl.DataFrame) -> str:
    """A hash of a frame's column names, types and values in row order."""
    digest = hashlib.sha256()
    for name, dtype in frame.schema.items():
        digest.update(f"{name}:{dtype}".encode())
    if frame.height:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def versions_by(frame: pl.DataFrame, column: str, keys: list[str]) -> dict[str, str]:
    """`frame_version` of each key's rows (rows where `column` equals the key, without it).
    The row hashes are computed once for the whole frame: a row's hash depends on the row
    alone, so this equals hashing each key's rows apart, without copying them."""
    rest = frame.drop(column)
    header = hashlib.sha256()
    for name, dtype in rest.schema.items():
        header.update(f"{name}:{dtype}".encode())
    hashes = pl.DataFrame(
        {column: frame.get_column(column), "hash": rest.hash_rows(seed=0) if frame.height else []}
    )
    parts = hashes.partition_by(column, as_dict=True, maintain_order=True)
    versions = {}
    for key in keys:
        digest = header.copy()
        rows = parts.get((key,))
        if rows is not None and rows.height:
            digest.update(rows.get_column("hash").to_numpy().tobytes())
        versions[key] = digest.hexdigest()[:16]
    return versions


def combined_version(versions: Mapping[str, str]) -> str:
    """One hash for several partitions' versions: the data version of a run that
    materialized them together (Dagster gives every partition of a run one version)."""
    digest = hashlib.sha256()
    for key in sorted(versions):
        digest.update(f"{key}={versions[key]};".encode())
    return digest.hexdigest()[:16]
