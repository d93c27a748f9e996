"""Throughput of ``skpneumo serve`` under concurrent clients, against ``predict_proba`` in one process.

Starts ``skpneumo serve MODEL`` on a free 127.0.0.1 port (loopback only), sends
``--requests`` one-film requests from ``--clients`` concurrent clients (bounded by
``--max-seconds`` too), then calls ``predict_proba`` on the same films in this
process (before and after the served run, averaged), in batches of the server's
``--max-batch-size``. The clients send prebuilt bodies over kept-alive connections, so
the benchmark's own process takes little of the CPU. Prints films per second of both,
their ratio, the request latency p50/p99 and the load average.

    python benchmarks/serve.py ../shared/data/chest_xray/test-dev --films 64 --requests 128
"""

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


BOUNDARY = "skpneumo-benchmark"


def multipart(name, data):
    """A one-film ``POST /v1/predict`` body, built once: the clients spend no time encoding."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n")
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def direct_rate(model, paths, batch_size):
    """Films per second of ``predict_proba`` on ``paths`` in batches of ``batch_size``."""
    t0 = time.perf_counter()
    for start in range(0, len(paths), batch_size):
        model.predict_proba(paths[start:start + batch_size])
    return len(paths) / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a folder of films (searched recursively for .jpeg/.png)")
    parser.add_argument("--model", default="kermany-v2")
    parser.add_argument("--films", type=int, default=64, help="distinct films sent (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=256, help="requests in all (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--max-batch-size", type=int, default=None,
                        help="the server's (default: the model's batch_size, as the server's default)")
    parser.add_argument("--max-wait-ms", type=float, default=10)
    args = parser.parse_args()

    import skpneumo

    films = sorted(p for p in Path(args.data).rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    films = films[:: max(1, len(films) // args.films)][: args.films]
    bodies = [multipart(p.name, p.read_bytes()) for p in films]
    model = skpneumo.load_model(args.model)
    batch_size = args.max_batch_size or model.named_steps["clf"].batch_size
    paths = [str(films[i % len(films)]) for i in range(args.requests)]
    model.predict_proba(paths[:batch_size])
    # predict_proba before and after the served run: the CPU's other load changes while it runs.
    before = direct_rate(model, paths, batch_size)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "skpneumo", "--quiet", "serve", args.model, "--port", str(port),
                               "--max-batch-size", str(batch_size), "--max-wait-ms", str(args.max_wait_ms)],
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})

    def post(connection, body):
        connection.request("POST", "/v1/predict", body,
                           {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        answer = connection.getresponse()
        text = answer.read()
        if answer.status != 200:
            sys.exit(f"the server answered {answer.status}: {text[:300]!r}")

    try:
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if server.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.5)
        post(http.client.HTTPConnection("127.0.0.1", port, timeout=120), bodies[0])
        latencies, stop = [], time.monotonic() + args.max_seconds

        def client(k):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # kept alive
            for i in range(k, args.requests, args.clients):
                if time.monotonic() > stop:
                    return
                t0 = time.perf_counter()
                post(connection, bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - t0)
            connection.close()

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        served = len(latencies) / (time.perf_counter() - t0)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    after = direct_rate(model, paths[:len(latencies)], batch_size)
    direct = (before + after) / 2
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(f"{len(latencies)} requests of one film ({len(films)} distinct films), {args.clients} clients, "
          f"batches of up to {batch_size}, wait {args.max_wait_ms:g} ms; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"served:        {served:.1f} films/s, latency p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"predict_proba: {direct:.1f} films/s (before {before:.1f}, after {after:.1f}; same films, batches of "
          f"{batch_size}, one process)")
    print(f"ratio:         {served / direct:.2f}x")


if __name__ == "__main__":
    main()
