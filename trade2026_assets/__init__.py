"""The Trade2026 Dagster code location: market bars, indicators and their checks.

Every module here is safe to import: nothing reads the environment or connects to anything
until `definitions.defs()` is called by Dagster.
"""
