"""Refresh schedules: market data daily, retraining weekly. Stopped by default (the embedded
demo runs its jobs itself); TRADE2026_SCHEDULES=running, or the Dagster UI, turns them on."""

from __future__ import annotations

import dagster as dg

# After the US close (UTC), on weekdays; retraining early on Monday, before the open.
MARKET_DATA_CRON = "30 22 * * 1-5"
TRAINING_CRON = "0 6 * * 1"


def build_schedules(
    *,
    market_data_job: dg.UnresolvedAssetJobDefinition,
    training_job: dg.UnresolvedAssetJobDefinition,
    universe_tags: dict[str, str],
    running: bool,
) -> list[dg.ScheduleDefinition]:
    """`universe_tags` make one market-data run cover every symbol (a single-run backfill)."""
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED

    @dg.schedule(
        name="daily_market_data",
        job=market_data_job,
        cron_schedule=MARKET_DATA_CRON,
        execution_timezone="UTC",
        default_status=status,
        description="Bars, indicators and online features for the whole universe, each "
        "weekday after the close.",
    )
    def daily_market_data(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # The partition range is a system tag: set per run, not on the definition.
        return dg.RunRequest(
            run_key=context.scheduled_execution_time.isoformat()
            if context.scheduled_execution_time
            else None,
            tags=universe_tags,
        )

    return [
        daily_market_data,
        dg.ScheduleDefinition(
            name="weekly_training",
            job=training_job,
            cron_schedule=TRAINING_CRON,
            execution_timezone="UTC",
            default_status=status,
            description="Retrain, gate and backtest every Monday; the auto-swap sensor takes "
            "a model that beats the champion live.",
        ),
    ]
