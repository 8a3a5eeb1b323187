"""cmtbench: a continual multi-task learning benchmark for text classification."""

__version__ = "0.1.0"
