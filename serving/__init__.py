"""BentoML serving of every declared strategy's live model, each following its registry slot."""
