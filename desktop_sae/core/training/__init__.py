"""Corpus, activation collection, TopK SAE training, evaluation and the feature dictionary."""
