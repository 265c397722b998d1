"""Shared market data: `market_bars`, `indicators` (every declared indicator set) and
`online_features`, with their checks; the `market_data` resource that reads the bars."""
