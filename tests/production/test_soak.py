"""The soak's short version (the README names the full one: `python -m bench.soak`): the
production-profile stack under steady loopback load with swaps, for about a minute."""

from __future__ import annotations

import json
from pathlib import Path

from bench.soak import soak


def test_a_short_soak_fails_nothing_logs_no_error_and_keeps_memory_flat(tmp_path: Path) -> None:
    result = soak(tmp_path, seconds=60, swap_every_s=12)
    for load in result["loads"]:
        assert load["sent"] >= 0.8 * load["rate"] * 50, load
        assert load["failed"] == 0, json.dumps(load)
    assert result["swaps"] >= 3
    assert result["swap_failures"] == []
    assert result["log_problems"] == {}, json.dumps(result["log_problems"], indent=1)
    for name, start in result["rss_mb_start"].items():
        end = result["rss_mb_end"][name]
        # Flat: a minute of steady load may settle allocator pools, not grow without end.
        assert end <= start * 1.15 + 40, (name, start, end)
