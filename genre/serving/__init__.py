"""The inference side: the one predictor (audio -> probabilities) and the model registry (BentoML store, champion)."""
