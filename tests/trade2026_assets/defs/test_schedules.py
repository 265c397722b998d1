"""The refresh schedules: what each requests, and their switch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from trade2026_assets.definitions import MARKET_DATA_JOB, TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings


def test_daily_market_data_covers_the_universe_in_one_run(tmp_path: Path) -> None:
    defs = build_definitions(AssetsSettings(home=tmp_path, symbols="AAA,BBB,CCC"))
    schedule = defs.resolve_schedule_def("daily_market_data")
    assert schedule.job_name == MARKET_DATA_JOB
    assert schedule.cron_schedule == "30 22 * * 1-5"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
        )
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "AAA"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "CCC"
    assert request.run_key == "2026-11-25T22:30:00+00:00"


def test_weekly_training_and_the_switch(tmp_path: Path) -> None:
    stopped = build_definitions(AssetsSettings(home=tmp_path))
    weekly = stopped.resolve_schedule_def("weekly_training")
    assert weekly.job_name == TRAINING_JOB
    assert weekly.cron_schedule == "0 6 * * 1"
    assert weekly.default_status == dg.DefaultScheduleStatus.STOPPED
    running = build_definitions(AssetsSettings(home=tmp_path, schedules="running"))
    for name in ("daily_market_data", "weekly_training"):
        assert running.resolve_schedule_def(name).default_status == (
            dg.DefaultScheduleStatus.RUNNING
        )
