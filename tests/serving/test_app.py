"""The routes, in process (Starlette's TestClient): answers, bad input, limits and the token."""

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from skpneumo.serving import PredictionService, create_app

from serving_helpers import encoded, films, served_model  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def service(served_model):
    service = PredictionService.load(served_model, max_batch_size=8, max_wait=0.005)
    yield service
    service.close()


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service, max_upload_mb=1, max_files=6)) as client:
        yield client


def upload(files):
    return [("files", (name, data, "application/octet-stream")) for name, data in files]


def test_predict_equals_load_model_predict_proba_for_every_format(client, films, served_model):
    from skpneumo import load_model

    model = load_model(served_model)
    expected = model.predict_proba([path for *_, path in films])[:, 1]
    answer = client.post("/v1/predict", files=upload([(n, d) for n, d, _ in films]))
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"]["name"] == "tiny-model"
    rows = body["results"]
    assert [row["file"] for row in rows] == [n for n, *_ in films]
    np.testing.assert_allclose([row["probability"] for row in rows], expected, rtol=0, atol=1e-6)
    assert all(row["threshold"] == 0.4 and row["error"] is None for row in rows)
    assert [row["label"] for row in rows] == ["PNEUMONIA" if p >= 0.4 else "NORMAL" for p in expected]


def test_threshold_query_changes_the_labels_only(client, films):
    name, data, _ = films[0]
    low = client.post("/v1/predict?threshold=0", files=upload([(name, data)])).json()["results"][0]
    high = client.post("/v1/predict?threshold=1", files=upload([(name, data)])).json()["results"][0]
    assert low["probability"] == high["probability"]
    assert (low["label"], low["threshold"]) == ("PNEUMONIA", 0.0)
    assert (high["label"], high["threshold"]) == ("NORMAL", 1.0)


def test_a_bad_file_gets_its_error_and_the_others_their_probability(client, films):
    name, data, _ = films[0]
    answer = client.post("/v1/predict", files=upload([(name, data), ("broken.png", data[: len(data) // 3]),
                                                      ("empty.png", b""), ("notes.txt", b"not an image at all")]))
    assert answer.status_code == 200
    good, truncated, empty, text = answer.json()["results"]
    assert good["error"] is None and 0 <= good["probability"] <= 1
    assert "broken.png" in truncated["error"] and truncated["probability"] is None
    assert "empty" in empty["error"] and "empty.png" in empty["error"]
    assert "notes.txt" in text["error"] and text["label"] is None


@pytest.mark.parametrize("files, query, status, words", [
    ([("bad.png", b"\x89PNG broken")], "", 422, "bad.png"),
    ([("other", ("f.png", b"x", "image/png"))], "", 400, "files"),
    ([("f.png", b"x")] * 7, "", 400, "Too many files"),
    ([("f.png", b"x")], "?threshold=2", 400, "threshold"),
    ([("f.png", b"x")], "?threshold=abc", 400, "threshold"),
])
def test_bad_requests_get_a_json_4xx_and_the_service_answers_the_next(client, films, files, query, status, words):
    files = files if files[0][0] == "other" else upload(files)
    answer = client.post("/v1/predict" + query, files=files)
    assert answer.status_code == status, answer.text
    message = answer.json()["results"][0]["error"] if status == 422 else answer.json()["error"]
    assert words in message
    name, film, _ = films[0]
    assert client.post("/v1/predict", files=upload([(name, film)])).status_code == 200


def test_an_image_declaring_huge_dimensions_is_refused(client):
    # A PNG header claiming 100000 x 100000 pixels (10 gigapixels) and no pixel data.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    row = client.post("/v1/predict", files=upload([("bomb.png", png)])).json()["results"][0]
    assert "bomb.png" in row["error"] and row["probability"] is None


def test_oversized_uploads_are_refused_with_413(client, films):
    big = [("big.png", b"\0" * (1024 * 1024 + 10))]
    answer = client.post("/v1/predict", files=upload(big))
    assert answer.status_code == 413 and "1 MiB" in answer.json()["error"]

    def body():  # chunked: no Content-Length, refused while it is read
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 65536
    answer = client.post("/v1/predict", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 413
    name, film, _ = films[0]
    assert client.post("/v1/predict", files=upload([(name, film)])).status_code == 200


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read():
    import asyncio

    from starlette.requests import Request

    from skpneumo.serving.app import UploadTooLarge, read_uploads

    async def receive():
        raise AssertionError("the body was read")

    headers = [(b"content-type", b"multipart/form-data; boundary=b"), (b"content-length", b"2097152")]
    request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
    with pytest.raises(UploadTooLarge):
        asyncio.run(read_uploads(request, 1024 * 1024, 4))


def test_wrong_method_unknown_route_and_wrong_content_type(client):
    assert client.get("/v1/predict").status_code == 405
    assert client.get("/v1/predict").json()["error"]
    assert client.get("/v2/nothing").status_code == 404
    answer = client.post("/v1/predict", json={"files": []})
    assert answer.status_code == 415 and "multipart" in answer.json()["error"]


def test_explain_png_is_the_overlay_skpneumo_explain_writes(client, films, served_model, tmp_path):
    from skpneumo import load_model
    from skpneumo.workflows import explain_paths

    name, data, path = films[0]
    answer = client.post("/v1/explain", files=upload([(name, data)]))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    row = explain_paths(load_model(served_model), [path], tmp_path)[0]
    assert answer.content == open(row["overlay"], "rb").read()
    assert abs(float(answer.headers["X-Probability"]) - row["probability"]) < 1e-6
    assert answer.headers["X-Label"] == row["label"]
    as_json = client.post("/v1/explain?format=json", files=upload([(name, data)])).json()
    assert as_json["result"]["probability"] == float(answer.headers["X-Probability"])
    assert client.post("/v1/explain", files=upload([(name, data)] * 2)).status_code == 400
    bad = client.post("/v1/explain", files=upload([("x.png", b"nope")]))
    assert bad.status_code == 422 and "x.png" in bad.json()["error"]


def test_model_route_health_and_page(client, service):
    info = client.get("/v1/model").json()
    assert info["name"] == "tiny-model" and info["classes"] == ["NORMAL", "PNEUMONIA"]
    assert info["threshold"]["value"] == 0.4 and info["input_size"] == [32, 32, 3]
    assert info["versions"]["skpneumo"] and "keras" in info["versions"]
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "skpneumo viewer" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text  # works offline: nothing from another host
    assert "http" not in page.text.replace('lang="en"', "")


def test_the_token_guards_every_route_but_health_and_page(service, films):
    name, data, _ = films[0]
    with TestClient(create_app(service, token="s3cret")) as client:
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        assert client.get("/").status_code == 200
        for method, route in (("get", "/v1/model"), ("post", "/v1/predict"), ("post", "/v1/explain")):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
                answer = getattr(client, method)(route, headers=headers)
                assert answer.status_code == 401 and "Bearer" in answer.json()["error"], (route, headers)
        ok = client.post("/v1/predict", files=upload([(name, data)]), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/v1/model", headers={"authorization": "bearer s3cret"}).status_code == 200


def test_model_json_is_plain_json(client):
    json.dumps(client.get("/v1/model").json())


def test_uploads_stay_in_memory_even_above_starlettes_spool_size(service, monkeypatch):
    import tempfile

    import cv2

    rolled = []
    real = tempfile.SpooledTemporaryFile.rollover

    def rollover(self):
        rolled.append(self)
        return real(self)

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", rollover)
    # Noise compresses badly: a PNG over Starlette's 1 MiB spool size, under the 4 MB limit here.
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100), dtype=np.uint8)
    data = cv2.imencode(".png", noise)[1].tobytes()
    assert len(data) > 1024 * 1024
    with TestClient(create_app(service, max_upload_mb=4)) as client:
        answer = client.post("/v1/predict", files=upload([("noise.png", data)]))
    row = answer.json()["results"][0]
    assert answer.status_code == 200 and row["error"] is None and 0 <= row["probability"] <= 1
    assert rolled == []  # never written to a temporary file on disk
