"""What a run published, so that its later steps read exactly that: another run may publish
the same partitions in between (two runs on one warehouse interleave step by step)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from trade2026_assets.warehouse import Published


def versions_in_run(context: dg.AssetExecutionContext, asset: str) -> dict[str, str]:
    """The data version under which this run published each partition of `asset` (none if
    the run did not materialize it)."""
    key = dg.AssetKey(asset)
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    versions: dict[str, str] = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if (
            materialization is not None
            and materialization.asset_key == key
            and materialization.partition is not None
            and "data_version" in materialization.metadata
        ):
            versions[materialization.partition] = str(
                materialization.metadata["data_version"].value
            )
    return versions


def republished(
    asset: str, in_run: Mapping[str, str], current: Mapping[str, Published]
) -> list[str]:
    """Partitions this run published whose published version is now another run's."""
    return [
        f"{partition}: this run published {asset} version {version}, but another run has "
        f"published version {current[partition].data_version} since"
        for partition, version in sorted(in_run.items())
        if partition in current and current[partition].data_version != version
    ]


def refuse_republished(asset: str, problems: list[str]) -> None:
    if problems:
        raise dg.Failure(
            description=f"{asset} changed under this run: "
            + "; ".join(problems)
            + ". Runs that write the same assets should not overlap (the `warehouse` "
            "concurrency pool); re-run this one."
        )
