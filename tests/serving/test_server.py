"""A real server: ``skpneumo serve`` in its own process on 127.0.0.1, stopped by SIGTERM mid-request."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from serving_helpers import films, served_model  # noqa: F401 (fixtures)

httpx = pytest.importorskip("httpx")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model, *args):
    """``skpneumo serve`` on a free loopback port; returns the process and its base URL once ready."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-m", "skpneumo", "serve", str(model), "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"skpneumo serve exited: {process.stdout.read()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    pytest.fail("skpneumo serve did not become ready in 120 s")


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight(served_model, films):
    # A long batching wait keeps the request in flight while SIGTERM arrives.
    process, url = start_server(served_model, "--max-wait-ms", "1500", "--max-batch-size", "64")
    try:
        name, data, _ = films[0]
        answers = []
        request = threading.Thread(target=lambda: answers.append(
            httpx.post(url + "/v1/predict", files=[("files", (name, data))], timeout=30)))
        request.start()
        time.sleep(0.7)
        process.send_signal(signal.SIGTERM)
        request.join(30)
        assert answers and answers[0].status_code == 200, answers
        assert 0 <= answers[0].json()["results"][0]["probability"] <= 1
        # uvicorn re-raises the signal once the requests in flight are answered: ended by SIGTERM, not a crash.
        assert process.wait(30) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.TransportError):  # closed: no new requests
            httpx.get(url + "/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_non_loopback_host_without_token_warns(served_model, tmp_path):
    token = tmp_path / "token"
    token.write_text("")
    done = subprocess.run([sys.executable, "-m", "skpneumo", "serve", str(served_model), "--token-file", str(token)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "holds no token" in done.stderr
    from skpneumo.serving.server import check_exposure

    with pytest.warns(UserWarning, match="without --token-file"):
        check_exposure("0.0.0.0", None)
    check_exposure("127.0.0.1", None)  # no warning: pytest's filter would turn one into an error below
    check_exposure("0.0.0.0", "token")
