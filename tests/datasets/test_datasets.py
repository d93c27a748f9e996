"""Tests for skpneumo.datasets: folder loader, patient ids, downloader, synthetic data."""

import hashlib
import io
import socket
import tarfile
import threading
import urllib.request
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from skpneumo.datasets import download
from skpneumo.datasets import (
    DEFAULT_URL,
    fetch_chest_xray,
    get_data_home,
    load_chest_xray,
    load_split,
    make_synthetic_xrays,
    patient_id,
)

REAL_TRAIN = Path(__file__).resolve().parents[3] / "shared/data/chest_xray/train"


def _write_files(root, layout):
    """Create empty files: ``layout`` maps a folder (relative to root) to file names.

    The loader only lists files, so their content does not matter.
    """
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / folder / name).write_bytes(b"")


def _listing(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


# patient_id -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("person1000_bacteria_2931.jpeg", "person1000"),
        # Kermany's forms in JPEG and PNG names only: a DICOM export numbers series and images with them.
        ("person1000_virus_1681", "person1000_virus_1681"),
        ("IM-0001-0001.dcm", "IM-0001-0001"),
        ("IM-0001-0001", "IM-0001-0001"),  # archives store DICOM files without an extension
        ("person3_virus_1.DCM", "person3_virus_1"),
        ("SYNTH-P0003-NORMAL-0001.tif", "SYNTH-P0003-NORMAL-0001"),
        ("person2_bacteria_4.JPG", "person2"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0429-0001-0002.jpeg", "IM-0429"),
        ("NORMAL2-IM-0302-0001.jpeg", "NORMAL2-IM-0302"),
        ("NORMAL2-IM-0395-0001-0001.jpeg", "NORMAL2-IM-0395"),
        ("SYNTH-P0003-NORMAL-0001.png", "SYNTH-P0003"),
        ("SYNTH-P0012-PNEUMONIA-0002.png", "SYNTH-P0012"),
        ("/data/chest_xray/train/PNEUMONIA/person1_virus_6.JPEG", "person1"),
        (Path("chest_xray/test/NORMAL/IM-0001-0001.jpeg"), "IM-0001"),
        ("scan_042.png", "scan_042"),  # unknown pattern: each image is its own patient
        ("no_extension", "no_extension"),
    ],
)
def test_patient_id(name, expected):
    assert patient_id(name) == expected


# load_chest_xray ----------------------------------------------------------------

LAYOUT = {
    "chest_xray/Train/normal": [
        "IM-0115-0001.jpeg",
        "IM-0117-0001.jpeg",
        "IM-0117-0002.jpeg",
        "NORMAL2-IM-0302-0001.jpeg",
        ".DS_Store",
        "Thumbs.db",
    ],
    "chest_xray/Train/Pneumonia": [
        "person1000_bacteria_2931.jpeg",
        "person1000_virus_1681.jpeg",
        "person2_bacteria_4.JPG",
        "readme.txt",
    ],
    "chest_xray/TEST/NORMAL": ["IM-0001-0001.jpeg", "._IM-0001-0001.jpeg"],
    "chest_xray/TEST/PNEUMONIA": ["person3_virus_1.png"],
}


@pytest.fixture
def tree(tmp_path):
    _write_files(tmp_path, LAYOUT)
    # A sub-folder inside a class folder is neither an image nor a skipped file.
    (tmp_path / "chest_xray/TEST/NORMAL/subfolder").mkdir()
    return tmp_path


@pytest.mark.parametrize("outer", [True, False])
def test_load_layout_mixed_case(tree, outer):
    root = tree if outer else tree / "chest_xray"
    data = load_chest_xray(root)

    assert data.root == str(tree / "chest_xray")
    assert list(data.splits) == ["train"] * 7 + ["test"] * 2
    assert list(data.labels) == ["NORMAL"] * 4 + ["PNEUMONIA"] * 3 + ["NORMAL", "PNEUMONIA"]
    assert [Path(p).name for p in data.paths[:4]] == sorted(LAYOUT["chest_xray/Train/normal"][:4])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in data.paths)
    assert list(data.groups[:7]) == [
        "IM-0115", "IM-0117", "IM-0117", "NORMAL2-IM-0302",
        "person1000", "person1000", "person2",
    ]  # fmt: skip
    # .DS_Store, Thumbs.db, readme.txt and the hidden '._' resource fork.
    assert data.n_skipped == 4
    assert list(data.target_names) == ["NORMAL", "PNEUMONIA"]
    for array in (data.paths, data.labels, data.groups, data.splits):
        assert isinstance(array, np.ndarray) and array.dtype.kind == "U"
    for text in ("Kermany", "Cell 172(5):1122-1131", "10.17632/rscbjbr9sj.2", "CC BY 4.0"):
        assert text in data.DESCR


def test_load_is_deterministic_and_accepts_relative_paths(tree, monkeypatch):
    monkeypatch.chdir(tree)
    first = load_chest_xray("chest_xray")
    second = load_chest_xray(str(tree))
    np.testing.assert_array_equal(first.paths, second.paths)
    assert Path(first.paths[0]).is_absolute()


def test_load_split_folder_given_directly(tree):
    data = load_chest_xray(tree / "chest_xray" / "Train")
    assert len(data.paths) == 7
    assert set(data.splits) == {"train"}
    assert data.root == str(tree / "chest_xray" / "Train")
    assert data.n_skipped == 3
    assert len(load_chest_xray(tree / "chest_xray" / "Train", split="TRAIN").paths) == 7


def test_load_split_selection(tree):
    assert set(load_chest_xray(tree, split="test").splits) == {"test"}
    both = load_chest_xray(tree, split=["TEST", "train"])
    # Order follows the request.
    assert list(both.splits) == ["test"] * 2 + ["train"] * 7
    with pytest.raises(ValueError, match=r"\['val'\].*available: \['test', 'train'\]"):
        load_chest_xray(tree, split="val")
    with pytest.raises(ValueError, match="available"):
        load_chest_xray(tree / "chest_xray" / "Train", split="test")
    with pytest.raises(ValueError, match="split must be"):
        load_chest_xray(tree, split=3)
    with pytest.raises(ValueError, match="split must be"):
        load_chest_xray(tree, split=[])


def test_load_return_X_y(tree):
    paths, labels, groups = load_chest_xray(tree, return_X_y=True)
    data = load_chest_xray(tree)
    np.testing.assert_array_equal(paths, data.paths)
    np.testing.assert_array_equal(labels, data.labels)
    np.testing.assert_array_equal(groups, data.groups)


def test_loaders_give_an_integer_target_named_by_target_names(tree, tmp_path):
    data = load_chest_xray(tree)
    assert list(data.target) == [0] * 4 + [1] * 3 + [0, 1]
    loaded = [
        data,
        load_chest_xray(tree, split="test"),
        load_split(tree, "train"),
        load_split(tree / "chest_xray" / "TEST", "train"),
        make_synthetic_xrays(tmp_path, n_per_class=2, size=16, random_state=0, split=["train", "test"]),
    ]
    for bunch in loaded:
        assert bunch.target.dtype.kind == "i"
        assert list(bunch.target_names) == ["NORMAL", "PNEUMONIA"]
        np.testing.assert_array_equal(bunch.target_names[bunch.target], bunch.labels)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_chest_xray(tmp_path / "nowhere")

    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        load_chest_xray(tmp_path / "file.txt")

    _write_files(tmp_path, {"images/cats": ["a.png"]})
    with pytest.raises(ValueError, match=r"No split or class folders.*\{train,val,test\}"):
        load_chest_xray(tmp_path / "images")

    _write_files(tmp_path, {"one/train/NORMAL": ["IM-0001-0001.jpeg"]})
    with pytest.raises(ValueError, match="PNEUMONIA/ missing"):
        load_chest_xray(tmp_path / "one")

    _write_files(
        tmp_path,
        {"two/train/NORMAL": ["IM-0001-0001.jpeg"], "two/train/PNEUMONIA": [".DS_Store"]},
    )
    with pytest.raises(ValueError, match=r"PNEUMONIA holds no image"):
        load_chest_xray(tmp_path / "two")

    _write_files(
        tmp_path,
        {
            "three/train/NORMAL": ["a.jpeg"],
            "three/train/normal": ["b.jpeg"],
            "three/train/PNEUMONIA": ["c.jpeg"],
        },
    )
    if len(_listing(tmp_path / "three/train")) == 3:  # case-sensitive file system
        with pytest.raises(ValueError, match="differ only by case"):
            load_chest_xray(tmp_path / "three")


def test_load_warns_about_file_names_without_patient_id(tmp_path):
    _write_files(tmp_path, {
        "train/NORMAL": ["IM-0001-0001.jpeg", "scan_042.png"],
        "train/PNEUMONIA": ["person1_virus_1.jpeg", "scan_043.png"],
    })
    with pytest.warns(UserWarning, match=r"2 of 4 file names hold no patient id .*'scan_042\.png'") as record:
        data = load_chest_xray(tmp_path)
    assert len(record) == 1 and record[0].filename == __file__  # points at the caller
    assert list(data.groups) == ["IM-0001", "scan_042", "person1", "scan_043"]


def test_load_kermany_names_do_not_warn(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_chest_xray(tree)


# Patient grouping -----------------------------------------------------------------


def test_groups_keep_patients_on_one_side(tmp_path):
    data = make_synthetic_xrays(tmp_path, n_per_class=30, size=16, random_state=3)
    _, counts = np.unique(data.groups, return_counts=True)
    assert counts.max() == 2  # some patients have two images: grouping matters
    y = data.labels == "PNEUMONIA"
    for cv in (StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=0), GroupKFold(4)):
        for train, test in cv.split(data.paths, y, groups=data.groups):
            assert not set(data.groups[train]) & set(data.groups[test])


def test_groups_on_kermany_names(tree):
    data = load_chest_xray(tree, split="train")
    y = data.labels == "PNEUMONIA"
    for train, test in GroupKFold(n_splits=2).split(data.paths, y, groups=data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])
        # Both images of person1000 (bacteria and virus) always travel together.
        assert sum("person1000_" in p for p in data.paths[test]) in (0, 2)


# make_synthetic_xrays --------------------------------------------------------------


def test_synthetic_counts_names_and_images(tmp_path):
    data = make_synthetic_xrays(
        tmp_path, n_per_class=5, size=48, random_state=0, split=["train", "test"]
    )
    assert len(data.paths) == 20
    assert data.n_skipped == 0
    for split in ("train", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            files = sorted((tmp_path / split / label).iterdir())
            assert len(files) == 5
            assert all(f.name.startswith("SYNTH-P") and f"-{label}-" in f.name for f in files)
    assert set(data.groups) == {patient_id(p) for p in data.paths}
    assert all(g.startswith("SYNTH-P") for g in data.groups)
    # A patient never spans two splits or two classes.
    train = set(data.groups[data.splits == "train"])
    assert not train & set(data.groups[data.splits == "test"])
    normal = set(data.groups[data.labels == "NORMAL"])
    assert not normal & set(data.groups[data.labels == "PNEUMONIA"])
    for path in data.paths:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert image.shape == (48, 48) and image.dtype == np.uint8
        assert image.min() < 40 < 120 < image.max()  # dark background, bright body


def test_synthetic_is_deterministic(tmp_path):
    a = make_synthetic_xrays(tmp_path / "a", n_per_class=4, size=32, random_state=7)
    b = make_synthetic_xrays(tmp_path / "b", n_per_class=4, size=32, random_state=7)
    c = make_synthetic_xrays(tmp_path / "c", n_per_class=4, size=32, random_state=8)
    names = [Path(p).relative_to(tmp_path / "a") for p in a.paths]
    assert names == [Path(p).relative_to(tmp_path / "b") for p in b.paths]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert any(
        Path(pa).read_bytes() != Path(pc).read_bytes()
        for pa, pc in zip(a.paths, c.paths, strict=True)
    )


def test_synthetic_pneumonia_brighter_in_lungs_not_overall(tmp_path):
    size = 64
    data = make_synthetic_xrays(tmp_path, n_per_class=40, size=size, random_state=0)
    images = np.stack([cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in data.paths]).astype(float)
    y = data.labels == "PNEUMONIA"
    rows = slice(int(0.30 * size), int(0.65 * size))
    lungs = (
        images[:, rows, int(0.22 * size) : int(0.42 * size)].mean(axis=(1, 2))
        + images[:, rows, int(0.58 * size) : int(0.78 * size)].mean(axis=(1, 2))
    ) / 2
    assert lungs[y].mean() > lungs[~y].mean() + 10
    # Exposure varies, so the mean brightness of the whole image is a poor classifier.
    assert 0.25 < roc_auc_score(y, images.mean(axis=(1, 2))) < 0.75


def test_synthetic_separate_calls_do_not_share_patients(tmp_path):
    train = make_synthetic_xrays(tmp_path, n_per_class=3, size=16, random_state=0, split="train")
    test = make_synthetic_xrays(tmp_path, n_per_class=3, size=16, random_state=0, split="test")
    assert not set(train.groups) & set(test.groups)
    assert len(load_chest_xray(tmp_path).paths) == 12
    with pytest.raises(FileExistsError, match="already holds files"):
        make_synthetic_xrays(tmp_path, n_per_class=3, size=16, split="train")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_class": 0}, "n_per_class"),
        ({"n_per_class": 2.5}, "n_per_class"),
        ({"n_per_class": True}, "n_per_class"),
        ({"size": 8}, "size"),
        ({"size": "128"}, "size"),
        ({"split": "training"}, "Unknown split"),
        ({"split": ["train", 1]}, "split must be"),
    ],
)
def test_synthetic_validates_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_xrays(tmp_path, **kwargs)
    assert _listing(tmp_path) == []


# fetch_chest_xray against a local HTTP server -------------------------------------------


@pytest.fixture
def server():
    """Serve ``routes`` ({path: body}) on 127.0.0.1; '/truncated' hangs up half-way."""
    routes = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            truncated = self.path == "/truncated"
            body = routes.get("/archive.zip" if truncated else self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncated else body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield SimpleNamespace(url=url, routes=routes, httpd=httpd)
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """A small data set as ChestXRay2017.zip (top folder chest_xray/) and as .tar.gz."""
    src = tmp_path_factory.mktemp("src")
    make_synthetic_xrays(
        src / "chest_xray", n_per_class=3, size=32, random_state=0, split=["train", "test"]
    )
    files = sorted(p for p in src.rglob("*") if p.is_file())
    zip_buffer = io.BytesIO()
    with zipfile.ZipFile(zip_buffer, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(src).as_posix())
        zf.writestr("__MACOSX/chest_xray/._junk", b"mac metadata")  # as in some real zips
    flat_buffer = io.BytesIO()  # train/ and test/ at the top, no outer folder
    with zipfile.ZipFile(flat_buffer, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(src / "chest_xray").as_posix())
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w:gz") as tf:
        tf.add(src / "chest_xray", arcname="chest_xray")
    return SimpleNamespace(
        zip=zip_buffer.getvalue(),
        flat_zip=flat_buffer.getvalue(),
        tar=tar_buffer.getvalue(),
        n_images=len(files),
    )


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _no_network(*args, **kwargs):
    raise AssertionError("fetch_chest_xray used the network")


def test_fetch_downloads_verifies_extracts_then_is_a_noop(server, archives, tmp_path, monkeypatch):
    server.routes["/archive.zip"] = archives.zip
    home = tmp_path / "home"
    path = fetch_chest_xray(
        home, url=server.url + "/archive.zip", sha256=_sha256(archives.zip).upper(), progress=False
    )
    assert path == str(home / "chest_xray")
    data = load_chest_xray(path)
    assert len(data.paths) == archives.n_images == 12
    assert set(data.splits) == {"train", "test"}
    assert _listing(home) == ["ChestXRay2017.zip.sha256", "chest_xray"]
    assert (home / "ChestXRay2017.zip.sha256").read_text().split()[0] == _sha256(archives.zip)

    server.httpd.shutdown()
    server.httpd.server_close()
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    assert fetch_chest_xray(home, url=server.url + "/archive.zip", progress=False) == path
    assert len(load_chest_xray(path).paths) == 12


def test_fetch_tar_gz_without_checksum_records_digest(server, archives, tmp_path, capsys):
    server.routes["/data.tar.gz"] = archives.tar
    home = tmp_path / "home"
    path = fetch_chest_xray(home, url=server.url + "/data.tar.gz", sha256=None, progress=True)
    assert len(load_chest_xray(path).paths) == 12
    digest = _sha256(archives.tar)
    assert digest in capsys.readouterr().err
    assert (home / "ChestXRay2017.zip.sha256").read_text() == f"{digest}  ChestXRay2017.zip\n"
    assert _listing(home) == ["ChestXRay2017.zip.sha256", "chest_xray"]


def test_fetch_archive_without_outer_folder(server, archives, tmp_path):
    server.routes["/flat.zip"] = archives.flat_zip
    home = tmp_path / "home"
    path = fetch_chest_xray(home, url=server.url + "/flat.zip", progress=False)
    assert path == str(home / "chest_xray")
    assert len(load_chest_xray(path).paths) == 12
    assert _listing(home) == ["ChestXRay2017.zip.sha256", "chest_xray"]


def test_fetch_wrong_checksum_leaves_nothing(server, archives, tmp_path):
    server.routes["/archive.zip"] = archives.zip
    home = tmp_path / "home"
    with pytest.raises(OSError, match="SHA-256.*deleted"):
        fetch_chest_xray(home, url=server.url + "/archive.zip", sha256="0" * 64, progress=False)
    assert _listing(home) == []


def _zip_with(name, data=b"evil"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("chest_xray/train/NORMAL/IM-0001-0001.png", b"ok")
        zf.writestr(name, data)
    return buffer.getvalue()


def _zip_with_symlink():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo("chest_xray/train/NORMAL/link.png")
        info.external_attr = (0o120777 << 16)  # symlink mode bits
        zf.writestr(info, "../../../../evil")
    return buffer.getvalue()


def _tar_with(member_type, name, linkname=""):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type = member_type
        info.linkname = linkname
        payload = b"evil" if member_type == tarfile.REGTYPE else b""
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make_archive",
    [
        lambda: _zip_with("../evil"),
        lambda: _zip_with("chest_xray/../../evil"),
        lambda: _zip_with("/tmp/skpneumo-test-evil"),
        _zip_with_symlink,
        lambda: _tar_with(tarfile.REGTYPE, "../evil"),
        lambda: _tar_with(tarfile.SYMTYPE, "chest_xray/train/NORMAL/x.png", "/etc/passwd"),
        lambda: _tar_with(tarfile.LNKTYPE, "chest_xray/train/NORMAL/y.png", "../../evil"),
    ],
    ids=[
        "zip-dotdot", "zip-nested-dotdot", "zip-absolute", "zip-symlink",
        "tar-dotdot", "tar-symlink", "tar-hardlink",
    ],  # fmt: skip
)
def test_fetch_refuses_unsafe_archives(server, tmp_path, make_archive):
    server.routes["/evil"] = make_archive()
    home = tmp_path / "sub" / "home"
    with pytest.raises(ValueError, match="Refusing to extract"):
        fetch_chest_xray(home, url=server.url + "/evil", progress=False)
    assert _listing(home) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "sub" / "evil").exists()
    assert not Path("/tmp/skpneumo-test-evil").exists()


def test_fetch_rejects_unknown_format_and_archive_without_splits(server, tmp_path):
    server.routes["/text"] = b"not an archive"
    no_split = io.BytesIO()
    with zipfile.ZipFile(no_split, "w") as zf:
        zf.writestr("chest_xray/images/NORMAL/IM-0001-0001.png", b"ok")
    server.routes["/nosplit"] = no_split.getvalue()
    home = tmp_path / "home"
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        fetch_chest_xray(home, url=server.url + "/text", progress=False)
    with pytest.raises(ValueError, match="no train/"):
        fetch_chest_xray(home, url=server.url + "/nosplit", progress=False)
    assert _listing(home) == []


def _refused_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/archive.zip"  # nothing listens there any more


@pytest.mark.parametrize("failure", ["404", "truncated", "refused"])
def test_fetch_network_errors_leave_nothing(server, archives, tmp_path, failure):
    server.routes["/archive.zip"] = archives.zip
    url = {
        "404": server.url + "/missing.zip",
        "truncated": server.url + "/truncated",
        "refused": _refused_url(),
    }[failure]
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"Could not download.*by hand.*ChestXRay2017\.zip") as info:
        fetch_chest_xray(home, url=url, progress=False, timeout=5)
    assert str(home) in str(info.value)  # says where to put a manual download
    assert _listing(home) == []


def test_fetch_interrupted_extraction_leaves_nothing(server, archives, tmp_path, monkeypatch):
    server.routes["/archive.zip"] = archives.zip
    extractall = zipfile.ZipFile.extractall

    def extract_then_interrupt(self, *args, **kwargs):
        extractall(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "extractall", extract_then_interrupt)
    home = tmp_path / "home"
    with pytest.raises(KeyboardInterrupt):
        fetch_chest_xray(home, url=server.url + "/archive.zip", progress=False)
    assert _listing(home) == []


def test_fetch_without_download(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    home = tmp_path / "home"
    with pytest.raises(OSError, match="download_if_missing is False.*by hand"):
        fetch_chest_xray(home, download_if_missing=False)
    assert not home.exists()


def test_fetch_uses_archive_placed_by_hand(archives, tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ChestXRay2017.zip").write_bytes(archives.zip)
    with pytest.raises(OSError, match="SHA-256"):
        fetch_chest_xray(home, sha256="0" * 64, download_if_missing=False, progress=False)
    assert _listing(home) == ["ChestXRay2017.zip"]  # the user's file is kept
    path = fetch_chest_xray(
        home, sha256=_sha256(archives.zip), download_if_missing=False, progress=False
    )
    assert len(load_chest_xray(path).paths) == 12
    assert _listing(home) == ["ChestXRay2017.zip", "ChestXRay2017.zip.sha256", "chest_xray"]


def test_data_home_and_env_var(server, archives, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("SKPNEUMO_DATA", raising=False)
    assert get_data_home() == str(tmp_path / "user" / "skpneumo_data")
    monkeypatch.setenv("SKPNEUMO_DATA", str(tmp_path / "env"))
    assert get_data_home() == str(tmp_path / "env")
    assert get_data_home(tmp_path / "arg") == str(tmp_path / "arg")
    assert not (tmp_path / "env").exists()  # get_data_home creates nothing

    server.routes["/archive.zip"] = archives.zip
    path = fetch_chest_xray(url=server.url + "/archive.zip", progress=False)
    assert path == str(tmp_path / "env" / "chest_xray")
    assert len(load_chest_xray(path).paths) == 12


# Size of the archive, with a fake downloader (no network) -----------------------------------


class FakeResponse:
    """What urlopen returns: ``body``, announced in Content-Length when ``length`` is set."""

    def __init__(self, body, length=None):
        self.body = io.BytesIO(body)
        self.headers = {} if length is None else {"Content-Length": str(length)}

    def read(self, n=-1):
        return self.body.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fake_urlopen(monkeypatch, body, length=None):
    """Serve ``body`` at every URL; return the list of requested URLs."""
    requested = []

    def urlopen(request, timeout=None):
        requested.append(request.full_url)
        return FakeResponse(body, length)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return requested


def test_fetch_refuses_a_default_download_of_the_wrong_size(archives, tmp_path, monkeypatch):
    requested = fake_urlopen(monkeypatch, archives.zip)  # a valid archive, far below 1.2 GB
    home = tmp_path / "home"
    with pytest.raises(OSError, match=(
        rf"is {len(archives.zip):,} bytes, expected between 1,100,000,000 and 1,350,000,000 bytes "
        r"\(Mendeley Data lists it as 1\.2 GB\): it is truncated or not the expected file and was "
        r"deleted\..*by hand"
    )):
        fetch_chest_xray(home, progress=False)
    assert requested == [DEFAULT_URL]
    assert _listing(home) == []  # no partial download left
    # The same bytes pass once the bounds admit their size: the size alone was refused.
    monkeypatch.setattr(download, "ARCHIVE_SIZE_BOUNDS", (len(archives.zip), len(archives.zip)))
    assert len(load_chest_xray(fetch_chest_xray(home, progress=False)).paths) == 12


class NotToBeRead(FakeResponse):
    def read(self, n=-1):
        raise AssertionError("the body of a refused download was read")


def test_fetch_refuses_an_announced_wrong_size_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout=None: NotToBeRead(b"", 5_800_000_000))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="is 5,800,000,000 bytes, expected between"):
        fetch_chest_xray(home, progress=False)
    assert _listing(home) == []


def test_fetch_checks_an_explicit_size(archives, tmp_path, monkeypatch):
    fake_urlopen(monkeypatch, archives.zip)
    home = tmp_path / "home"
    url = "https://mirror.invalid/ChestXRay2017.zip"
    with pytest.raises(OSError, match=rf"is {len(archives.zip):,} bytes, expected {len(archives.zip) + 1:,} bytes:"):
        fetch_chest_xray(home, url=url, size=len(archives.zip) + 1, progress=False)
    assert _listing(home) == []
    path = fetch_chest_xray(home, url=url, size=len(archives.zip), progress=False)
    assert len(load_chest_xray(path).paths) == 12


def test_fetch_checks_the_size_of_an_archive_placed_by_hand(archives, tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ChestXRay2017.zip").write_bytes(archives.zip[:1000])  # an interrupted browser download
    with pytest.raises(OSError, match=r"is 1,000 bytes, expected .*: it is truncated or not the expected file\. "):
        fetch_chest_xray(home, size=len(archives.zip), progress=False)
    assert _listing(home) == ["ChestXRay2017.zip"]  # the user's file is kept


@pytest.mark.parametrize("size", [0, -5, 2.5, "1.2 GB", True])
def test_fetch_rejects_an_invalid_size(tmp_path, size):
    with pytest.raises(ValueError, match="size must be None or a positive integer"):
        fetch_chest_xray(tmp_path / "home", size=size)
    assert not (tmp_path / "home").exists()


# The real data set, when a copy sits next to the repository -----------------------------


@pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason=f"{REAL_TRAIN} not available")
def test_real_kermany_train_folder():
    data = load_chest_xray(REAL_TRAIN)
    assert len(data.paths) == 5216
    assert (data.labels == "NORMAL").sum() == 1341
    assert (data.labels == "PNEUMONIA").sum() == 3875
    assert set(data.splits) == {"train"}
    n_patients = len(np.unique(data.groups))
    print(f"{n_patients} distinct patients in {REAL_TRAIN}")
    # Several images per patient for some, never more patients than images.
    assert 2000 < n_patients < 5216
    # Every real file name matches a known pattern (none falls back to its stem).
    assert all(g != Path(p).stem for g, p in zip(data.groups, data.paths, strict=True))
    normal = set(data.groups[data.labels == "NORMAL"])
    assert not normal & set(data.groups[data.labels == "PNEUMONIA"])


class EndlessBody(FakeResponse):
    """A body without Content-Length that never ends: only a check while streaming stops it."""

    def __init__(self):
        super().__init__(b"")
        self.served = 0

    def read(self, n=-1):
        self.served += n
        if self.served > 40 * n:
            raise AssertionError("the oversized download was read to the end")
        return b"\0" * n


def test_fetch_refuses_an_oversized_download_while_it_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "ARCHIVE_SIZE_BOUNDS", (1, 10 * 2**20))  # 10 MiB
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout=None: EndlessBody())
    home = tmp_path / "home"
    with pytest.raises(OSError, match="expected between 1 and 10,485,760 bytes"):
        fetch_chest_xray(home, progress=False)
    assert _listing(home) == []
