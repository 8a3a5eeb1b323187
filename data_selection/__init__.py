"""Coreset selectors: which examples of a finished task a replay memory keeps."""
