"""From audio to numbers: the one-STFT extractor, feature sets of a whole catalog (cache, batches) and mel images."""
