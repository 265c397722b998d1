"""The demo (`make demo`), the interactive stack (`make up`/`make down`), the embedded
Dagster instance's configuration, and the harness the tests, benchmarks and these scripts
share (`scripts.harness`). None of it is in the shipped wheel."""
