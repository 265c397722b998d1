"""Strategies as data: the declaration (`declaration`) and the signal rule (`rule`).
Imports neither Dagster, FastAPI nor BentoML."""
