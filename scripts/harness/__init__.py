"""What the tests, the benchmarks (`bench/`) and the scripts start and tear down: the
registry and `bentoml serve` as child processes, temporary PostgreSQL databases and NATS
streams on this machine's servers, the production profile as processes, MLflow models to
serve, and in-process runs of the code location's jobs. Not part of the shipped packages."""
