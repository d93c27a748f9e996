"""Image I/O: decoding files into arrays (OpenCV, reduced-scale JPEG, DICOM through pydicom)."""

from .dicom import check_dicom_file, read_dicom
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
    "IMAGE_EXTENSIONS",
    "check_dicom_file",
    "check_image_file",
    "check_image_header",
    "is_dicom_path",
    "is_image_name",
    "read_dicom",
    "read_image",
]
