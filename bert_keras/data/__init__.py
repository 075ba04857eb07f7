"""Readers that turn files into examples and tf.data pipelines: pretraining pairs (from the raw-text corpora that
`bert_keras.text.corpus` reads), CSV/TSV/JSONL classification, CoNLL NER, SQuAD."""
