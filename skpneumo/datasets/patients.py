"""Patient identifiers: read from file names, or from a CSV listing each file's patient.

Several films can come from one patient, so every split and every confidence
interval in skpneumo is made by patient; these are the two ways to know them.
"""

import csv
import os
import re
import warnings
from pathlib import Path, PurePath

import numpy as np

# Patient-id conventions of the Kermany file names, plus the synthetic one.
_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_", re.IGNORECASE),  # person1000_bacteria_2931
    re.compile(r"^((?:NORMAL\d*-)?IM-\d+)-", re.IGNORECASE),  # [NORMAL2-]IM-0115-0001
    re.compile(r"^(SYNTH-P\d+)-", re.IGNORECASE),  # SYNTH-P0003-NORMAL-0001
)
# Kermany's films (and the synthetic ones) are JPEG or PNG files. The same forms elsewhere say nothing
# about patients: DICOM exports name files IM-0001-0001.dcm by series and image, so reading "IM-0001"
# as a patient would merge unrelated patients.
_PATIENT_SUFFIXES = (".jpeg", ".jpg", ".png")

#: The rule :func:`patient_id` applies, as evaluation reports state it.
PATIENT_NAME_RULE = ("the Kermany forms person<N>_..., IM-<N>-... and NORMAL<N>-IM-<N>-... (and skpneumo's "
                     "synthetic SYNTH-P<N>-...), in .jpeg, .jpg and .png file names only")


def patient_id(path):
    """Return the patient identifier encoded in an image file name.

    Recognised names (any folder, case-insensitive), those of the Kermany data set and of
    :func:`make_synthetic_xrays`, in ``.jpeg``, ``.jpg`` and ``.png`` files only (the same
    forms on other files, such as a DICOM export's ``IM-0001-0001.dcm``, number series and
    images, not patients):

    - ``person1000_bacteria_2931.jpeg`` and ``person1000_virus_1681.jpeg``
      give ``"person1000"``;
    - ``IM-0115-0001.jpeg`` gives ``"IM-0115"``;
    - ``NORMAL2-IM-0302-0001.jpeg`` gives ``"NORMAL2-IM-0302"``;
    - ``SYNTH-P0003-NORMAL-0001.png`` (see :func:`make_synthetic_xrays`)
      gives ``"SYNTH-P0003"``.

    Parameters
    ----------
    path : str or path-like
        File name or path of the image.

    Returns
    -------
    str
        The patient identifier. A name that matches none of the patterns
        above yields its stem (file name without extension), i.e. the image
        is treated as its own patient: grouping then cannot merge it with
        other images, which is the conservative choice for unknown names.

    Examples
    --------
    >>> patient_id("chest_xray/train/PNEUMONIA/person1000_virus_1681.jpeg")
    'person1000'
    >>> patient_id("IM-0115-0001.jpeg")
    'IM-0115'
    >>> patient_id("IM-0001-0001.dcm")
    'IM-0001-0001'
    """
    found = _match_patient(path)
    return PurePath(os.fspath(path)).stem if found is None else found


def _match_patient(path):
    """The patient id in the file name of ``path``, or None when no pattern matches."""
    name = PurePath(os.fspath(path))
    if name.suffix.lower() not in _PATIENT_SUFFIXES:
        return None
    stem = name.stem
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return None


def patient_groups(paths, stacklevel=2):
    """The patient of each file, from its name, and how many names hold none.

    Files whose names match no known pattern fall back to one patient per file,
    which silently undoes patient grouping if the names follow an unknown
    convention, hence a ``UserWarning`` naming one of them.

    Parameters
    ----------
    paths : sequence of str or path-like
        Image files.
    stacklevel : int, default=2
        Where the warning points, counted from the caller of this function.

    Returns
    -------
    groups : ndarray of str
        :func:`patient_id` of each path (the file's stem where it finds none).
    n_unparsed : int
        How many file names hold no patient id.
    """
    found = [_match_patient(p) for p in paths]
    unparsed = [p for p, patient in zip(paths, found) if patient is None]
    if unparsed:
        warnings.warn(
            f"{len(unparsed)} of {len(paths)} file names hold no patient id skpneumo "
            f"recognises (e.g. {PurePath(os.fspath(unparsed[0])).name!r}); each such file "
            "counts as its own patient. Name files as skpneumo.datasets.patient_id "
            "expects, or supply the patient ids yourself.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    groups = [PurePath(os.fspath(p)).stem if patient is None else patient for p, patient in zip(paths, found)]
    return np.asarray(groups, dtype=str), len(unparsed)


def read_groups(csv_path, paths):
    """The patient of each of ``paths``, from a CSV file with ``file`` and ``patient`` columns.

    A row's ``file`` is matched to a path by the whole path (absolute, or relative to
    the CSV file's folder) or, when no row gives the path, by the file name alone if
    no other row has that name.

    Parameters
    ----------
    csv_path : path-like
        The CSV file, with a header holding ``file`` and ``patient``.
    paths : sequence of path-like
        The image files whose patients are wanted.

    Returns
    -------
    groups : ndarray of shape (n,)
        The patient of each path.

    Raises
    ------
    FileNotFoundError
        If the CSV file does not exist.
    ValueError
        Naming the first file the CSV does not cover, or the first bad row, before
        any image is read.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"groups file not found: '{csv_path}'")
    with open(csv_path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames or not {"file", "patient"} <= set(reader.fieldnames):
            raise ValueError(f"'{csv_path}' needs a header with the columns 'file' and 'patient', "
                             f"got {reader.fieldnames}")
        rows = [(row["file"], row["patient"]) for row in reader]
    by_path, by_name = {}, {}
    for line, (file_name, patient) in enumerate(rows, start=2):
        if not file_name or not patient:
            raise ValueError(f"'{csv_path}', line {line}: needs both a file and a patient")
        full = Path(file_name) if Path(file_name).is_absolute() else csv_path.parent / file_name
        key = os.path.normpath(os.path.abspath(full))
        if by_path.get(key, patient) != patient:
            raise ValueError(f"'{csv_path}', line {line}: '{file_name}' is listed with two patients")
        by_path[key] = patient
        by_name.setdefault(Path(file_name).name, set()).add(patient)
    groups = []
    for path in paths:
        patient = by_path.get(os.path.normpath(os.path.abspath(path)))
        if patient is None and len(by_name.get(Path(path).name, ())) == 1:
            patient = next(iter(by_name[Path(path).name]))
        if patient is None:
            raise ValueError(f"'{csv_path}' gives no patient for '{path}'"
                             + (" (its file name is listed with several patients)" if Path(path).name in by_name
                                else ""))
        groups.append(patient)
    return np.array(groups)
