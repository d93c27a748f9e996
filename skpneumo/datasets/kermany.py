"""The Kermany et al. (2018) chest X-ray folder layout: listing files, labels and patients.

The reference data set is the pediatric chest X-ray collection of Kermany et
al. (2018), distributed on Mendeley Data as ``ChestXRay2017.zip`` and mirrored
on Kaggle as "chest-xray-pneumonia". Both use the folder layout
``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``, which is what
:func:`load_chest_xray` reads (and :func:`~skpneumo.make_synthetic_xrays` writes).
"""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..io import is_image_name
from ..utils.labels import CLASS_NAMES
from .patients import patient_groups

DATASET_DIRNAME = "chest_xray"
SPLITS = ("train", "val", "test")
# The class folders; a class's index is its integer ``target`` (the reports' names follow it).
CLASSES = CLASS_NAMES

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


def find_split_folders(root, *, allow_split_folder=True):
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
        if not is_image_name(entry.name):
            n_skipped += 1
        else:
            images.append(entry.name)
    return [folder / name for name in sorted(images)], n_skipped


def split_names(split):
    """``split`` (a name or a list of names) as a list of names; ValueError otherwise."""
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
    """Load the file paths, labels and targets of a chest X-ray folder tree.

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
        If True, return ``(paths, labels, groups)`` instead of a Bunch: the string
        labels, as in earlier releases (unlike scikit-learn's loaders, whose
        ``return_X_y`` gives ``(data, target)``); use the Bunch's ``target`` for
        integer classes.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        paths : ndarray of str
            Absolute image paths, ordered by split (train, val, test), then
            class, then file name.
        labels : ndarray of str
            ``"NORMAL"`` or ``"PNEUMONIA"``, the class folder of each image.
        target : ndarray of int
            The same classes as integers, 0 for NORMAL and 1 for PNEUMONIA
            (``target_names[target]`` equals ``labels``), as scikit-learn's
            loaders give them. scikit-learn's scorers (``scoring="f1"``,
            ``"precision"``, ``"recall"``, ``"average_precision"``) take 1 as the
            positive class, so they work with ``target``; with ``labels`` they
            need ``pos_label="PNEUMONIA"`` (:func:`sklearn.metrics.make_scorer`).
            A model trained on ``target`` predicts 0/1; skpneumo's reports,
            model cards and command line show them as NORMAL and PNEUMONIA.
        groups : ndarray of str
            Patient identifier of each image (see :func:`patient_id`); pass
            it as ``groups`` to ``GroupKFold`` or ``StratifiedGroupKFold``.
            A file whose name holds no known patient id is its own patient.
        splits : ndarray of str
            Split of each image.
        target_names : ndarray of str
            ``["NORMAL", "PNEUMONIA"]``: the name of each value of ``target``.
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

    base, available = find_split_folders(root)
    if base is None:
        raise ValueError(f"No split or class folders found in {root}. Expected {_LAYOUT}.")

    if split is None:
        wanted = list(available)
    else:
        wanted = list(dict.fromkeys(s.lower() for s in split_names(split)))
        missing = [s for s in wanted if s not in available]
        if missing:
            raise ValueError(
                f"Split(s) {missing} not found in {base}; available: {sorted(available)}."
            )

    paths, labels, target, splits, n_skipped = [], [], [], [], 0
    for split_name in wanted:
        classes = _subdirs(available[split_name])
        for index, label in enumerate(CLASSES):
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
            target += [index] * len(images)
            splits += [split_name] * len(images)

    paths = np.asarray(paths, dtype=str)
    labels = np.asarray(labels, dtype=str)
    groups, _ = patient_groups(paths)
    if return_X_y:
        return paths, labels, groups
    return Bunch(
        paths=paths,
        labels=labels,
        target=np.asarray(target, dtype=int),
        groups=groups,
        splits=np.asarray(splits, dtype=str),
        target_names=np.asarray(CLASSES, dtype=str),
        n_skipped=n_skipped,
        root=str(base),
        DESCR=DESCR,
    )


def load_split(data_dir, split):
    """The images of ``split`` when ``data_dir`` holds splits, else of the folder itself.

    Parameters
    ----------
    data_dir : path-like
        A split folder holding ``NORMAL/`` and ``PNEUMONIA/`` (``.../train``), or a
        root holding splits.
    split : str
        The split to read from a root.

    Returns
    -------
    Bunch
        As :func:`load_chest_xray` returns it.

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` is not a folder.
    ValueError
        If it is a root without ``split``, or laid out otherwise.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data folder does not exist: '{data_dir}'")
    try:
        return load_chest_xray(data_dir, split=split)
    except ValueError:
        # Only a folder that holds the class folders itself is a split folder; a root
        # lacking the requested split must not silently yield its other splits.
        names = {p.name.lower() for p in Path(data_dir).iterdir() if p.is_dir()}
        if {"normal", "pneumonia"} <= names:
            return load_chest_xray(data_dir)
        raise
