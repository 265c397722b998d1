"""BentoML serving of the live default_ml_strategy model, following the registry."""
