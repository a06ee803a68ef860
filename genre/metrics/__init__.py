"""Scores and plots shared by model selection and evaluation: clip-level ROC-AUC, accuracy, F1, ROC and confusion plots."""
