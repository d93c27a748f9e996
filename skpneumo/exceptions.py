"""The exceptions skpneumo raises: the bottom layer, imported by every other."""


class ImageReadError(ValueError):
    """An image file is missing, empty, corrupt or not an image."""


class WeightsUnavailableError(RuntimeError):
    """Pre-trained weights cannot be downloaded and are not cached locally."""


class ModelFileError(ValueError):
    """A saved model file is missing, corrupt, from an incompatible version or not a model."""
