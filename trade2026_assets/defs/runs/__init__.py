"""Run monitoring: runs whose worker died are marked failed."""
