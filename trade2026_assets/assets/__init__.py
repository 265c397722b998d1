"""Asset definitions, built by `trade2026_assets.definitions`."""
