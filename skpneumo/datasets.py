"""Loaders, downloader and synthetic generator for chest X-ray data sets.

The reference data set is the pediatric chest X-ray collection of Kermany et
al. (2018), distributed on Mendeley Data as ``ChestXRay2017.zip`` and mirrored
on Kaggle as "chest-xray-pneumonia". Both use the folder layout
``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``, which is what
:func:`load_chest_xray` reads and :func:`make_synthetic_xrays` writes.
"""

import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from http.client import HTTPException
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

import cv2
import numpy as np
from sklearn.utils import Bunch
from tqdm import tqdm

from ._validation import is_int
from .loading import IMAGE_EXTENSIONS

__all__ = [
    "ARCHIVE_SIZE_BOUNDS",
    "DEFAULT_URL",
    "fetch_chest_xray",
    "get_data_home",
    "load_chest_xray",
    "make_synthetic_xrays",
    "patient_groups",
    "patient_id",
]

logger = logging.getLogger(__name__)

#: Direct download of ``ChestXRay2017.zip`` (Mendeley Data, doi:10.17632/rscbjbr9sj.2).
#: It answers with a redirect to the storage backend, which urllib follows.
DEFAULT_URL = (
    "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
    "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"
)
ARCHIVE_NAME = "ChestXRay2017.zip"
DATASET_DIRNAME = "chest_xray"
LANDING_PAGE = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
#: Bounds, in bytes, on the size of a download from :data:`DEFAULT_URL`. Mendeley Data
#: lists ``ChestXRay2017.zip`` as "1.2 GB" and publishes neither its exact size nor a
#: checksum (none was found on the record, in the paper or in the mirrors), so only
#: this is pinned: wide enough for "1.2 GB" read as 10**9 or 2**30 bytes, it still
#: refuses a truncated download, an error page or the record's multi-GB OCT archive.
ARCHIVE_SIZE_BOUNDS = (1_100_000_000, 1_350_000_000)

SPLITS = ("train", "val", "test")
CLASSES = ("NORMAL", "PNEUMONIA")

_LAYOUT = (
    "<root>/{train,val,test}/{NORMAL,PNEUMONIA}/<images> (folder names in any "
    "case, optionally inside an outer 'chest_xray/' folder), or a single split "
    "folder <root>/{NORMAL,PNEUMONIA}/<images>"
)

DESCR = """\
Chest X-ray images (pneumonia), Kermany et al. 2018
---------------------------------------------------

Anterior-posterior chest radiographs of pediatric patients (one to five years
old) from Guangzhou Women and Children's Medical Center, labelled NORMAL or
PNEUMONIA (bacterial or viral) by expert physicians. The release holds 5,856
JPEG images: ``train/`` 5,232 (1,349 NORMAL, 3,883 PNEUMONIA) and ``test/``
624 (234 NORMAL, 390 PNEUMONIA). The Kaggle mirror moves 16 training images
to a ``val/`` split, leaving 1,341 NORMAL and 3,875 PNEUMONIA in ``train/``.

Several images can come from one patient (see ``groups``): use group-aware
cross-validation (``GroupKFold``, ``StratifiedGroupKFold``) so that no patient
appears in both the training and the evaluation folds.

Licence: CC BY 4.0.

References
----------
Kermany DS, Goldbaum M, Cai W, et al. Identifying Medical Diagnoses and
Treatable Diseases by Image-Based Deep Learning. Cell 172(5):1122-1131, 2018.
doi:10.1016/j.cell.2018.02.010

Kermany D, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and
Chest X-Ray Images for Classification. Mendeley Data, V2, 2018.
doi:10.17632/rscbjbr9sj.2
"""

# Patient-id conventions of the Kermany file names, plus the synthetic one.
_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_", re.IGNORECASE),  # person1000_bacteria_2931
    re.compile(r"^((?:NORMAL\d*-)?IM-\d+)-", re.IGNORECASE),  # [NORMAL2-]IM-0115-0001
    re.compile(r"^(SYNTH-P\d+)-", re.IGNORECASE),  # SYNTH-P0003-NORMAL-0001
)


def patient_id(path):
    """Return the patient identifier encoded in an image file name.

    Recognised names (any folder, any extension, case-insensitive):

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
    """
    found = _match_patient(path)
    return PurePath(os.fspath(path)).stem if found is None else found


def _match_patient(path):
    """The patient id in the file name of ``path``, or None when no pattern matches."""
    stem = PurePath(os.fspath(path)).stem
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


def _subdirs(folder):
    """Map lower-cased names of the sub-folders of ``folder`` to their paths."""
    found = {}
    for entry in os.scandir(folder):
        if not entry.is_dir():
            continue
        key = entry.name.lower()
        if key in found:
            # 'normal' and 'NORMAL' side by side would silently drop images.
            raise ValueError(
                f"Folders {found[key].name!r} and {entry.name!r} in {folder} "
                "differ only by case; keep only one of them."
            )
        found[key] = Path(entry.path)
    return found


def _find_split_folders(root, *, allow_split_folder=True):
    """Return ``(folder, {split: path})`` for the layout found at ``root``.

    ``folder`` is the dataset root (holding split folders) or, when
    ``allow_split_folder``, the split folder itself; ``(None, {})`` when
    ``root`` matches no known layout.
    """
    children = _subdirs(root)
    splits = {s: children[s] for s in SPLITS if s in children}
    if splits:
        return root, splits
    if allow_split_folder and any(c.lower() in children for c in CLASSES):
        return root, {root.name.lower(): root}
    outer = children.get(DATASET_DIRNAME)
    if outer is not None:
        inner = _subdirs(outer)
        splits = {s: inner[s] for s in SPLITS if s in inner}
        if splits:
            return outer, splits
    return None, {}


def _list_class_folder(folder):
    """Return (sorted image paths, number of skipped non-image files)."""
    images, n_skipped = [], 0
    for entry in os.scandir(folder):
        if not entry.is_file():
            continue
        # Hidden files (.DS_Store, macOS '._x.jpeg' resource forks) are never images.
        if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
            n_skipped += 1
        else:
            images.append(entry.name)
    return [folder / name for name in sorted(images)], n_skipped


def _as_split_list(split):
    if isinstance(split, str):
        return [split]
    try:
        names = list(split)
    except TypeError:
        names = None
    if not names or not all(isinstance(s, str) for s in names):
        raise ValueError(f"split must be None, a str or a list of str, got {split!r}.")
    return names


def load_chest_xray(root, split=None, *, return_X_y=False):
    """Load the file paths and labels of a chest X-ray folder tree.

    Reads the layout of the Kermany / Kaggle "chest_xray" data set::

        root/[chest_xray/]{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg

    Folder names may use any case. ``root`` may also be a single split
    folder holding ``NORMAL/`` and ``PNEUMONIA/`` directly (for example
    ``.../chest_xray/train``); its name, lower-cased, is then the split.
    Only the images are listed, none is read, so loading is fast.

    Parameters
    ----------
    root : str or path-like
        Dataset folder, as described above; :func:`fetch_chest_xray` and
        :func:`make_synthetic_xrays` give suitable ones.
    split : str or list of str, default=None
        Split(s) to read among ``"train"``, ``"val"``, ``"test"`` (case-
        insensitive). ``None`` reads every split present.
    return_X_y : bool, default=False
        If True, return ``(paths, labels, groups)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        paths : ndarray of str
            Absolute image paths, ordered by split (train, val, test), then
            class, then file name.
        labels : ndarray of str
            ``"NORMAL"`` or ``"PNEUMONIA"``, the class folder of each image.
        groups : ndarray of str
            Patient identifier of each image (see :func:`patient_id`); pass
            it as ``groups`` to ``GroupKFold`` or ``StratifiedGroupKFold``.
            A file whose name holds no known patient id is its own patient.
        splits : ndarray of str
            Split of each image.
        target_names : ndarray of str
            ``["NORMAL", "PNEUMONIA"]``.
        n_skipped : int
            Number of non-image files skipped in the class folders (files
            without an image extension, such as ``.DS_Store``,
            ``Thumbs.db`` or text files, and hidden files). Image extensions
            are those :func:`skpneumo.read_image` decodes (.jpeg .jpg .png .bmp .tif
            .tiff), in any case.
        root : str
            Absolute path of the folder holding the split folders, or of the
            split folder when one was given.
        DESCR : str
            Description of the data set, with its citation and licence.
    (paths, labels, groups) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    ValueError
        If ``root`` does not follow the layout, a requested split is absent,
        or a class folder is missing or holds no image.

    Warns
    -----
    UserWarning
        If some file names hold no patient id :func:`patient_id` recognises: the
        warning gives their number and one example, since each of them then counts
        as its own patient in ``groups``.
    """
    root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    if not root.exists():
        raise FileNotFoundError(f"Chest X-ray folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"Expected a folder laid out as {_LAYOUT}; {root} is a file.")

    base, available = _find_split_folders(root)
    if base is None:
        raise ValueError(f"No split or class folders found in {root}. Expected {_LAYOUT}.")

    if split is None:
        wanted = list(available)
    else:
        wanted = list(dict.fromkeys(s.lower() for s in _as_split_list(split)))
        missing = [s for s in wanted if s not in available]
        if missing:
            raise ValueError(
                f"Split(s) {missing} not found in {base}; available: {sorted(available)}."
            )

    paths, labels, splits, n_skipped = [], [], [], 0
    for split_name in wanted:
        classes = _subdirs(available[split_name])
        for label in CLASSES:
            folder = classes.get(label.lower())
            if folder is None:
                raise ValueError(
                    f"Class folder {label}/ missing in {available[split_name]}; "
                    f"expected {_LAYOUT}."
                )
            images, skipped = _list_class_folder(folder)
            if not images:
                raise ValueError(f"Class folder {folder} holds no image file.")
            n_skipped += skipped
            paths += [str(p) for p in images]
            labels += [label] * len(images)
            splits += [split_name] * len(images)

    paths = np.asarray(paths, dtype=str)
    labels = np.asarray(labels, dtype=str)
    groups, _ = patient_groups(paths)
    if return_X_y:
        return paths, labels, groups
    return Bunch(
        paths=paths,
        labels=labels,
        groups=groups,
        splits=np.asarray(splits, dtype=str),
        target_names=np.asarray(CLASSES, dtype=str),
        n_skipped=n_skipped,
        root=str(base),
        DESCR=DESCR,
    )


def get_data_home(data_home=None):
    """Return the folder where skpneumo keeps downloaded data sets.

    The folder is, by priority: the ``data_home`` argument, the environment
    variable ``SKPNEUMO_DATA``, or ``~/skpneumo_data``. It is not created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder; ``~`` is expanded.

    Returns
    -------
    str
        Absolute path of the data home.
    """
    if data_home is None:
        data_home = os.environ.get("SKPNEUMO_DATA") or os.path.join("~", "skpneumo_data")
    return os.path.abspath(os.path.expanduser(os.fspath(data_home)))


def _manual_instructions(data_home):
    return (
        f"Download {ARCHIVE_NAME} by hand from {LANDING_PAGE} "
        f"(doi:10.17632/rscbjbr9sj.2) and either put it at "
        f"{os.path.join(data_home, ARCHIVE_NAME)} and call fetch_chest_xray again, "
        f"or extract it so that {os.path.join(data_home, DATASET_DIRNAME, 'train')} exists."
    )


class _WrongSize(Exception):
    """An archive, or the size a server announces for it, outside the expected bounds."""

    def __init__(self, n_bytes):
        super().__init__(n_bytes)
        self.n_bytes = n_bytes


def _check_size(n_bytes, bounds):
    if bounds is not None and not bounds[0] <= n_bytes <= bounds[1]:
        raise _WrongSize(n_bytes)


def _download(url, destination, *, timeout, progress, size_bounds=None):
    """Stream ``url`` into the open binary file ``destination``; return its SHA-256.

    Raises _WrongSize when the size is outside ``size_bounds`` (low, high), before
    reading the body if the server announces it.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "skpneumo"})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None:
            _check_size(total, size_bounds)
        received = 0
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=ARCHIVE_NAME,
            disable=not progress,
            file=sys.stderr,
        ) as bar:
            while chunk := response.read(1 << 20):
                destination.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                if size_bounds is not None and received > size_bounds[1]:
                    _check_size(received, size_bounds)  # refuse an oversized body as it streams
    # http.client returns a short body without error when the peer hangs up early.
    if total is not None and received != total:
        raise HTTPException(f"connection closed after {received} of {total} bytes")
    _check_size(received, size_bounds)
    return digest.hexdigest()


def _size_error(n_bytes, bounds, source, data_home, deleted):
    if bounds[0] == bounds[1]:
        expected = f"{bounds[0]:,} bytes"
    else:
        expected = f"between {bounds[0]:,} and {bounds[1]:,} bytes (Mendeley Data lists it as 1.2 GB)"
    return OSError(
        f"{ARCHIVE_NAME} from {source} is {n_bytes:,} bytes, expected {expected}: it is "
        f"truncated or not the expected file{' and was deleted' if deleted else ''}. "
        f"{_manual_instructions(data_home)}"
    )


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_member(name, is_regular, destination):
    """Refuse an archive member that would be written outside ``destination``."""
    if not is_regular:
        # A link could point anywhere; devices and fifos have no place in a data set.
        raise ValueError(f"Refusing to extract {name!r}: links and special files are not allowed.")
    windows = PureWindowsPath(name)  # splits on both '/' and '\\'
    dest = os.path.realpath(destination)
    target = os.path.realpath(os.path.join(dest, name))
    if (
        PurePosixPath(name).is_absolute()
        or windows.anchor
        or ".." in windows.parts
        or os.path.commonpath([target, dest]) != dest
    ):
        raise ValueError(f"Refusing to extract {name!r}: it would land outside {destination}.")


def _extract(archive, destination):
    """Extract a .zip or .tar[.gz] archive (chosen by content) after checking every member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                _check_member(info.filename, not is_link, destination)
            zf.extractall(destination)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for member in members:
                _check_member(member.name, member.isfile() or member.isdir(), destination)
            # The 'data' filter (Python >= 3.10.12/3.11.4) adds a second line of defence.
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(destination, members=members, **kwargs)
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive.")


def _find_dataset_root(folder, max_depth=3):
    """Breadth-first search for the folder holding the split folders."""
    level = [Path(folder)]
    for _ in range(max_depth):
        next_level = []
        for candidate in level:
            base = _find_split_folders(candidate, allow_split_folder=False)[0]
            if base is not None:
                return base
            next_level += sorted(
                p
                for p in candidate.iterdir()
                if p.is_dir() and not p.name.startswith((".", "__MACOSX"))
            )
        level = next_level
    return None


def fetch_chest_xray(
    data_home=None,
    *,
    url=DEFAULT_URL,
    sha256=None,
    size=None,
    download_if_missing=True,
    progress=True,
    timeout=60.0,
):
    """Download and extract the Kermany chest X-ray data set, if needed.

    The data (``ChestXRay2017.zip``, about 1.2 GB, from Mendeley Data,
    doi:10.17632/rscbjbr9sj.2, licence CC BY 4.0) is extracted to
    ``<data_home>/chest_xray``. When that folder exists the function returns
    at once, without any network access and without checking its content.
    An archive already placed by hand at ``<data_home>/ChestXRay2017.zip``
    is extracted instead of downloading (and left in place).

    Extraction is atomic: the archive is downloaded to a temporary file and
    extracted to a temporary folder, both inside ``data_home``, then the
    result is renamed into place. Whatever happens (error, Ctrl-C), no
    partial download or half-extracted folder remains. Archive members that
    would be written outside the target (absolute paths, ``..``, links)
    are refused.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to store the data; see :func:`get_data_home` (``SKPNEUMO_DATA``
        environment variable, else ``~/skpneumo_data``).
    url : str, default=DEFAULT_URL
        Location of the archive, a .zip or a .tar.gz whose content follows the
        layout read by :func:`load_chest_xray`.
    sha256 : str, default=None
        Expected SHA-256 hex digest of the archive; a mismatch raises and the
        downloaded file is deleted. No checksum is published for
        ``ChestXRay2017.zip``, so by default (None) the digest is only
        computed, logged (printed on stderr too when ``progress`` is True)
        and stored in ``<data_home>/ChestXRay2017.zip.sha256`` so that it
        can be compared with other copies.
    size : int, default=None
        Expected size of the archive in bytes, checked on a download and on an
        archive placed by hand; a mismatch raises and a downloaded file is
        deleted. None checks a download from ``DEFAULT_URL`` against
        ``ARCHIVE_SIZE_BOUNDS`` (its exact size is not published, see there) and
        nothing else. A server that announces a size outside the expected one is
        refused before the body is read.
    download_if_missing : bool, default=True
        If False, raise an error instead of downloading missing data.
    progress : bool, default=True
        Show a progress bar on stderr during the download.
    timeout : float, default=60.0
        Seconds to wait for the server before giving up (per network
        operation, not for the whole download).

    Returns
    -------
    str
        Path of the extracted data set (the folder holding ``train/`` and
        ``test/``), to pass to :func:`load_chest_xray`.

    Raises
    ------
    OSError
        If the data is missing and ``download_if_missing`` is False, the
        download fails, or the size or checksum does not match. The message
        says how to download the archive by hand and where to put it.
    ValueError
        If ``size`` is not a positive integer, or the archive is of an unknown
        format, holds an unsafe member, or holds no ``train/``/``val/``/``test/``
        folder.
    """
    if size is not None and not is_int(size, 1):
        raise ValueError(f"size must be None or a positive integer (bytes), got {size!r}.")
    data_home = get_data_home(data_home)
    target = os.path.join(data_home, DATASET_DIRNAME)
    if os.path.isdir(target):
        return target

    manual_archive = os.path.join(data_home, ARCHIVE_NAME)
    has_manual_archive = os.path.isfile(manual_archive)
    if not has_manual_archive and not download_if_missing:
        raise OSError(
            f"Chest X-ray data not found in {data_home} and download_if_missing "
            f"is False. {_manual_instructions(data_home)}"
        )

    os.makedirs(data_home, exist_ok=True)
    part_path = extract_dir = None
    source = manual_archive if has_manual_archive else url
    try:
        if has_manual_archive:
            archive = manual_archive
            n_bytes = os.path.getsize(archive)
            if size is not None and n_bytes != size:
                raise _size_error(n_bytes, (size, size), archive, data_home, deleted=False)
            digest = _file_sha256(archive)
        else:
            fd, part_path = tempfile.mkstemp(
                prefix=f".{ARCHIVE_NAME}-", suffix=".part", dir=data_home
            )
            archive = part_path
            logger.info("Downloading %s to %s", url, data_home)
            if size is not None:
                bounds = (size, size)
            else:
                bounds = ARCHIVE_SIZE_BOUNDS if url == DEFAULT_URL else None
            try:
                with os.fdopen(fd, "wb") as f:
                    digest = _download(url, f, timeout=timeout, progress=progress, size_bounds=bounds)
            except _WrongSize as exc:
                raise _size_error(exc.n_bytes, bounds, url, data_home, deleted=True) from None
            except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError) as exc:
                raise OSError(
                    f"Could not download the chest X-ray archive from {url}: {exc}. "
                    f"{_manual_instructions(data_home)}"
                ) from exc

        if sha256 is not None and digest != sha256.lower():
            raise OSError(
                f"SHA-256 of {ARCHIVE_NAME} from {source} is "
                f"{digest}, expected {sha256}: the file is corrupted or not the "
                f"expected one{' and was deleted' if part_path else ''}. "
                f"{_manual_instructions(data_home)}"
            )
        if sha256 is None:
            message = f"SHA-256 of {ARCHIVE_NAME} (no published checksum to compare): {digest}"
            logger.info(message)
            if progress:
                print(message, file=sys.stderr)

        extract_dir = tempfile.mkdtemp(prefix=f".{DATASET_DIRNAME}-", dir=data_home)
        _extract(archive, extract_dir)
        found = _find_dataset_root(extract_dir)
        if found is None:
            raise ValueError(f"The archive from {source} holds no train/, val/ or test/ folder.")
        os.replace(found, target)
        with open(os.path.join(data_home, ARCHIVE_NAME + ".sha256"), "w") as f:
            f.write(f"{digest}  {ARCHIVE_NAME}\n")
    finally:
        if part_path is not None and os.path.exists(part_path):
            os.remove(part_path)
        if extract_dir is not None:
            shutil.rmtree(extract_dir, ignore_errors=True)
    return target


# Synthetic radiographs ------------------------------------------------------


def _ellipse(canvas, center, axes, angle, value, thickness=-1, arc=(0, 360)):
    """Draw an ellipse with sub-pixel float geometry (cv2 wants fixed-point ints)."""
    scale = 16  # 4 fractional bits
    cv2.ellipse(
        canvas,
        (round(center[0] * scale), round(center[1] * scale)),
        (max(1, round(axes[0] * scale)), max(1, round(axes[1] * scale))),
        angle,
        arc[0],
        arc[1],
        value,
        thickness,
        cv2.LINE_8,
        4,
    )


def _render_xray(rng, size, pneumonia):
    """Return one synthetic frontal chest radiograph as a uint8 array."""
    s = float(size)
    k = s * rng.uniform(0.92, 1.05)  # per-image scale of the anatomy
    cx = s * (0.5 + rng.uniform(-0.03, 0.03))
    cy = s * (0.55 + rng.uniform(-0.03, 0.03))
    soft = s / 90.0

    img = np.full((size, size), rng.uniform(5.0, 25.0), np.float32)
    body = rng.uniform(140.0, 175.0)
    _ellipse(img, (cx, cy), (0.44 * k, 0.52 * k), 0.0, body)

    lungs = np.zeros_like(img)
    lung_centers = []
    for side in (-1, 1):
        center = (cx + side * 0.18 * k, cy - 0.06 * k)
        lung_centers.append(center)
        _ellipse(lungs, center, (0.12 * k, 0.26 * k), -side * 6.0, 1.0)
    lungs = cv2.GaussianBlur(lungs, (0, 0), soft)
    img = img * (1.0 - lungs) + rng.uniform(45.0, 75.0) * lungs

    # Ribs: faint arcs bowed upwards over each hemithorax.
    ribs = np.zeros_like(img)
    thickness = max(1, round(s / 64))
    for i in range(7):
        y = cy - 0.27 * k + i * 0.075 * k
        for side in (-1, 1):
            center = (cx + side * 0.16 * k, y)
            _ellipse(ribs, center, (0.17 * k, 0.05 * k), 0.0, 1.0, thickness, (180, 360))
    img += rng.uniform(12.0, 22.0) * cv2.GaussianBlur(ribs, (0, 0), soft)

    # Mediastinum and spine, then the heart bulging to the image right.
    _ellipse(img, (cx, cy), (0.07 * k, 0.36 * k), 0.0, body + rng.uniform(0.0, 15.0))
    _ellipse(img, (cx + 0.07 * k, cy + 0.12 * k), (0.15 * k, 0.11 * k), 20.0, 0.95 * body)

    if pneumonia:
        # Consolidations: several blurred blobs, confined to the lung fields.
        blobs = np.zeros_like(img)
        for _ in range(rng.integers(3, 8)):
            lx, ly = lung_centers[rng.integers(2)]
            dx, dy = rng.uniform(-0.6, 0.6, size=2)
            center = (lx + dx * 0.12 * k, ly + dy * 0.26 * k)
            radius = rng.uniform(0.04, 0.09) * k
            axes = (radius, radius * rng.uniform(0.7, 1.3))
            _ellipse(blobs, center, axes, 0.0, rng.uniform(0.6, 1.0))
        blobs = cv2.GaussianBlur(blobs, (0, 0), 0.03 * k)
        img += rng.uniform(50.0, 90.0) * blobs * lungs

    img = cv2.GaussianBlur(img, (0, 0), soft)
    # Exposure varies between films, so mean brightness alone must not tell the classes.
    img = img * rng.uniform(0.8, 1.2) + rng.uniform(-15.0, 15.0)
    img += rng.normal(0.0, 3.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


_SYNTH_ID = re.compile(r"^SYNTH-P(\d+)-", re.IGNORECASE)


def make_synthetic_xrays(root, n_per_class=20, size=128, random_state=None, *, split="train"):
    """Write a small synthetic chest X-ray data set, for tests and demos.

    Images are 8-bit grayscale PNG files imitating frontal radiographs: dark
    background, bright torso, two darker lung fields crossed by faint ribs,
    mediastinum and heart. ``PNEUMONIA`` images add patchy opacities (several
    blurred bright blobs) inside the lung fields. Position, scale, exposure
    and noise vary per image so that the classes are learnable but not by
    mean brightness alone. They are not medical data.

    The layout is the one read by :func:`load_chest_xray`::

        root/<split>/NORMAL/SYNTH-P0001-NORMAL-0001.png
        root/<split>/PNEUMONIA/SYNTH-P0002-PNEUMONIA-0001.png

    The ``SYNTH-P<n>`` prefix is the patient id (see :func:`patient_id`);
    about one patient in five has two images, so that patient grouping
    matters. Patients never span splits, and numbering continues after the
    synthetic patients already under ``root``, so separate calls do not share
    patients either.

    Parameters
    ----------
    root : str or path-like
        Output folder, created if needed.
    n_per_class : int, default=20
        Number of images per class and per split (>= 1).
    size : int, default=128
        Side of the square images, in pixels (>= 16).
    random_state : int, numpy.random.Generator or None, default=None
        Seed passed to :func:`numpy.random.default_rng`; a given seed gives
        byte-identical files.
    split : str or list of str, default="train"
        Split folder(s) to write, among ``"train"``, ``"val"``, ``"test"``;
        each receives ``n_per_class`` images per class.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        What :func:`load_chest_xray` returns for the written split(s).

    Raises
    ------
    ValueError
        If an argument is out of range.
    FileExistsError
        If a class folder to write already holds files.
    """
    if not is_int(n_per_class, 1):
        raise ValueError(f"n_per_class must be an integer >= 1, got {n_per_class!r}.")
    if not is_int(size, 16):
        raise ValueError(f"size must be an integer >= 16, got {size!r}.")
    splits = list(dict.fromkeys(s.lower() for s in _as_split_list(split)))
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"Unknown split(s) {unknown}; choose among {list(SPLITS)}.")

    root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    folders = {(s, c): root / s / c for s in splits for c in CLASSES}
    for folder in folders.values():
        if folder.is_dir() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} already holds files; write to another root or split.")

    existing = [
        int(m.group(1))
        for p in root.glob("*/*/SYNTH-P*")
        if (m := _SYNTH_ID.match(p.name))
    ]
    next_patient = max(existing, default=0) + 1

    rng = np.random.default_rng(random_state)
    for (_, label), folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        image_of_patient = 2  # forces a new patient for the first image
        for _ in range(n_per_class):
            # One patient in five gets a second image, so that grouping matters.
            if image_of_patient == 1 and rng.random() < 0.2:
                image_of_patient = 2
            else:
                patient, next_patient, image_of_patient = next_patient, next_patient + 1, 1
            image = _render_xray(rng, int(size), label == "PNEUMONIA")
            path = folder / f"SYNTH-P{patient:04d}-{label}-{image_of_patient:04d}.png"
            if not cv2.imwrite(str(path), image):
                raise OSError(f"Could not write {path}.")
    return load_chest_xray(root, split=splits)
