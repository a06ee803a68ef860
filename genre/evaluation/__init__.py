"""Judging a candidate: the ensemble weight, test-split scores and plots through the predictor, and the promotion gate."""
