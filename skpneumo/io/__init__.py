"""Image I/O: decoding files, or their bytes in memory, into arrays (OpenCV, DICOM through pydicom)."""

from .dicom import check_dicom_file, read_dicom
from .encoded import EncodedImage
from .images import (
    DICOM_EXTENSIONS,
    IMAGE_EXTENSIONS,
    check_image_file,
    check_image_header,
    is_dicom_path,
    is_image_name,
    read_image,
)

__all__ = [
    "DICOM_EXTENSIONS",
    "EncodedImage",
    "IMAGE_EXTENSIONS",
    "check_dicom_file",
    "check_image_file",
    "check_image_header",
    "is_dicom_path",
    "is_image_name",
    "read_dicom",
    "read_image",
]
