"""Preprocessing: the loader, the image transformers and the SMOTE sampler.

Every transformer here works image by image through one documented hook,
:meth:`ImageTransformer.transform_image`, which the pipeline's fused decoding
pass calls too.
"""

from .base import ImageTransformer, StatelessTransformer
from .loader import ImageLoader
from .sampling import ImageSMOTE
from .transformers import CLAHE, GrayscaleToRGB, Normalizer, Resizer

__all__ = [
    "CLAHE",
    "GrayscaleToRGB",
    "ImageLoader",
    "ImageSMOTE",
    "ImageTransformer",
    "Normalizer",
    "Resizer",
    "StatelessTransformer",
]
