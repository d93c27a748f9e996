"""Synthetic chest radiographs: a learnable stand-in for real films, offline and licence-free."""

import os
import re
from pathlib import Path

import cv2
import numpy as np

from ..utils.validation import is_int
from .kermany import CLASSES, SPLITS, load_chest_xray, split_names


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


def render_xray(rng, size, pneumonia):
    """One synthetic frontal chest radiograph, as :func:`make_synthetic_xrays` writes them.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the anatomy, the exposure and, for pneumonia, the opacities.
    size : int
        Height and width in pixels.
    pneumonia : bool
        Add patchy opacities to the lungs.

    Returns
    -------
    image : ndarray of uint8, shape (size, size)
    """
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
    splits = list(dict.fromkeys(s.lower() for s in split_names(split)))
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
            image = render_xray(rng, int(size), label == "PNEUMONIA")
            path = folder / f"SYNTH-P{patient:04d}-{label}-{image_of_patient:04d}.png"
            if not cv2.imwrite(str(path), image):
                raise OSError(f"Could not write {path}.")
    return load_chest_xray(root, split=splits)
