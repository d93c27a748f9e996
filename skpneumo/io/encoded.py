"""Image files held in memory: an upload decoded without touching the disk."""


class EncodedImage:
    """An image file's bytes in memory, with a name for messages.

    :func:`read_image` and :class:`~skpneumo.ImageLoader` (so every pipeline) take it
    wherever they take a path, and decode it the same way, without a file on disk.
    Its format is read from the content alone (the name is only shown in messages):
    any format OpenCV decodes, or DICOM (Part 10, with its preamble).

    Parameters
    ----------
    data : bytes-like
        The file's content.
    name : str, default="<memory>"
        What messages call it (e.g. an uploaded file's name).

    Examples
    --------
    >>> from skpneumo.io import EncodedImage, read_image
    >>> image = read_image(EncodedImage(open("xray.jpeg", "rb").read(), "xray.jpeg"))  # doctest: +SKIP
    """

    __slots__ = ("data", "name")

    def __init__(self, data, name="<memory>"):
        self.data = data
        self.name = name

    def __repr__(self):
        return f"EncodedImage(<{len(self.data)} bytes>, name={self.name!r})"
