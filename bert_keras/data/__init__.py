"""Readers that turn files into examples and tf.data pipelines (pretraining corpora first)."""
