"""Serving's settings: retired variables are named, not silently dropped."""

from __future__ import annotations

from serving.settings import retired_variables


def test_a_retired_variable_is_named_with_what_replaced_it() -> None:
    assert retired_variables({"SERVING_POLL_INTERVAL_S": "1"}) == []
    (line,) = retired_variables({"SERVING_SLOT": "default_ml_strategy"})
    assert line.startswith("SERVING_SLOT is set but no longer read: ")
    assert "one slot per declared strategy" in line
