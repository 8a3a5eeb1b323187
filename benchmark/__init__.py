"""cmtbench: a continual multi-task learning benchmark for text classification."""

from benchmark import torchvision_compat

__version__ = "0.1.0"

torchvision_compat.install()  # imports nothing; see benchmark/torchvision_compat.py
