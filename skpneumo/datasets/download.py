"""Downloading the Kermany chest X-ray archive, with size checks and safe extraction."""

import hashlib
import logging
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from http.client import HTTPException
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from ..utils.files import write_file_atomically
from ..utils.validation import is_int
from .kermany import DATASET_DIRNAME, find_split_folders

logger = logging.getLogger(__name__)

#: Direct download of ``ChestXRay2017.zip`` (Mendeley Data, doi:10.17632/rscbjbr9sj.2).
#: It answers with a redirect to the storage backend, which urllib follows.
DEFAULT_URL = (
    "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
    "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"
)
ARCHIVE_NAME = "ChestXRay2017.zip"
LANDING_PAGE = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
#: Bounds, in bytes, on the size of a download from :data:`DEFAULT_URL`. Mendeley Data
#: lists ``ChestXRay2017.zip`` as "1.2 GB" and publishes neither its exact size nor a
#: checksum (none was found on the record, in the paper or in the mirrors), so only
#: this is pinned: wide enough for "1.2 GB" read as 10**9 or 2**30 bytes, it still
#: refuses a truncated download, an error page or the record's multi-GB OCT archive.
ARCHIVE_SIZE_BOUNDS = (1_100_000_000, 1_350_000_000)

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
            base = find_split_folders(candidate, allow_split_folder=False)[0]
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
        write_file_atomically(os.path.join(data_home, ARCHIVE_NAME + ".sha256"),
                              lambda tmp: Path(tmp).write_text(f"{digest}  {ARCHIVE_NAME}\n"))
    finally:
        if part_path is not None and os.path.exists(part_path):
            os.remove(part_path)
        if extract_dir is not None:
            shutil.rmtree(extract_dir, ignore_errors=True)
    return target
