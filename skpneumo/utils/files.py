"""Writing files so that a failure never leaves half a file: one writer for the package.

Files are written under a temporary name in the destination folder and renamed into
place. They are created with ``open()``, so they get the mode any new file gets under
the caller's umask (``tempfile.mkstemp`` would leave 0600 behind).
"""

import os
import shutil
import uuid
from pathlib import Path


def _existing_folder_of(path):
    """The folder ``path`` goes into; FileNotFoundError unless it exists."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: '{folder}'")
    return folder


def _temporary_name(folder, name, suffix=""):
    return Path(folder) / f".{name}.{uuid.uuid4().hex}.tmp{suffix}"


def _sync(path):
    # On disk before the rename: a crash must not leave a complete-looking empty file.
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _folder_error(folder, exc, what):
    message = f"Cannot write {what} to folder '{folder}': {exc.strerror or exc}"
    # OSError(errno, message) keeps the specific subclass (PermissionError, ...).
    return OSError(exc.errno, message) if exc.errno else OSError(message)


def check_output_file(path):
    """Raise now, before any long work, if the file ``path`` cannot be written.

    Raises
    ------
    FileNotFoundError
        If its folder does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    PermissionError
        If its folder is not writable.
    """
    path = Path(path)
    folder = _existing_folder_of(path)
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder; give a file name")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write to '{folder}': permission denied")


def write_file_atomically(path, write, suffix=""):
    """Call ``write(tmp_path)``, then move the file to ``path``; never leave half a file.

    Parameters
    ----------
    path : path-like
        The file to create or replace; its folder must exist.
    write : callable
        Writes the whole file to the path it is given (``joblib.dump`` does).
    suffix : str, default=""
        Ending of the temporary name, for writers that insist on one (Keras
        weights files end in ``.weights.h5``).
    """
    path = Path(path)
    folder = _existing_folder_of(path)
    tmp = _temporary_name(folder, path.name, suffix)
    try:
        write(tmp)
        _sync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise _folder_error(folder, exc, f"'{path.name}'") from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_files_atomically(folder, files, what):
    """Write every file to a temporary name in ``folder``, then rename them all.

    Folders that had to be created are removed again when writing fails.

    Parameters
    ----------
    folder : path-like
        Created if needed.
    files : dict of str to bytes
        File name -> content.
    what : str
        What the files are, for the error message ("the evaluation report").

    Returns
    -------
    written : dict of str to Path
    """
    folder = Path(folder)
    created = []
    parent = folder
    while not parent.exists() and parent != parent.parent:
        created.append(parent)
        parent = parent.parent
    temporaries = []
    written = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = _temporary_name(folder, name)
            temporaries.append(tmp)
            with open(tmp, "xb") as handle:
                handle.write(data)
            _sync(tmp)
        for tmp, name in zip(temporaries, files):
            os.replace(tmp, folder / name)
            written[name] = folder / name
    except BaseException as exc:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        for directory in created:  # innermost first; non-empty ones stay
            try:
                directory.rmdir()
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise _folder_error(folder, exc, what) from exc
        raise
    return written


def write_folder_atomically(folder, write):
    """Call ``write(tmp_folder)`` on a new folder, then rename it to ``folder``.

    Parameters
    ----------
    folder : path-like
        Must not exist, or be an empty folder; its parent must exist.
    write : callable
        Fills the folder it is given.

    Raises
    ------
    FileExistsError
        If ``folder`` exists and is not an empty folder.
    FileNotFoundError
        If its parent does not exist.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"'{folder}' already exists: choose a new folder.")
    parent = _existing_folder_of(folder)
    tmp = _temporary_name(parent, folder.name)
    tmp.mkdir()  # mkdir honours the umask, as open() does for files
    try:
        write(tmp)
        for path in tmp.iterdir():
            _sync(path)
        if folder.exists():
            folder.rmdir()
        os.replace(tmp, folder)
    except OSError as exc:
        raise _folder_error(parent, exc, f"'{folder.name}'") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
