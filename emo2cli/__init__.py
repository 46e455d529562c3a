"""emo2cli: portrait + speech → talking video with co-speech hand gestures (EMO2 method).

Importing this package does not import torch; the heavy modules load on first use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
