"""Data sets, one module per source: the Kermany folder layout, its download, synthetic films.

Also the patients behind the files, read from file names or from a CSV file.
"""

from .download import ARCHIVE_SIZE_BOUNDS, DEFAULT_URL, fetch_chest_xray, get_data_home
from .kermany import CLASSES, DESCR, SPLITS, load_chest_xray, load_split
from .patients import PATIENT_NAME_RULE, patient_groups, patient_id, read_groups
from .synthetic import make_synthetic_xrays

__all__ = [
    "ARCHIVE_SIZE_BOUNDS",
    "CLASSES",
    "DEFAULT_URL",
    "DESCR",
    "PATIENT_NAME_RULE",
    "SPLITS",
    "fetch_chest_xray",
    "get_data_home",
    "load_chest_xray",
    "load_split",
    "make_synthetic_xrays",
    "patient_groups",
    "patient_id",
    "read_groups",
]
