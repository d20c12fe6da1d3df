"""Shipping a model: the open photo corpus, bundling into models/, the results figure and
compact run copies (pack)."""
