"""skpneumo: pneumonia detection on chest X-rays, the scikit-learn way.

File paths in, pneumonia probabilities out, through one imbalanced-learn
``Pipeline``: :class:`ImageLoader` -> :class:`Resizer` -> :class:`GrayscaleToRGB`
-> :class:`Normalizer` -> :class:`ImageSMOTE` -> :class:`PneumoniaClassifier`.
"""

from .classifier import PneumoniaClassifier
from .loading import ImageLoader, ImageReadError, read_image
from .model import ImageNetPreprocessing, WeightsUnavailableError
from .pipeline import PneumoniaPipeline, make_pipeline
from .preprocessing import GrayscaleToRGB, Normalizer, Resizer
from .sampling import ImageSMOTE

__version__ = "0.1.0"

__all__ = [
    "GrayscaleToRGB",
    "ImageLoader",
    "ImageNetPreprocessing",
    "ImageReadError",
    "ImageSMOTE",
    "Normalizer",
    "PneumoniaClassifier",
    "PneumoniaPipeline",
    "Resizer",
    "WeightsUnavailableError",
    "make_pipeline",
    "read_image",
]
