"""bert-keras."""
