"""Training: the frozen split, the classical models and their report, feature tables, and VGG16."""
