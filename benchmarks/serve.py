"""Throughput of ``skpneumo serve`` under concurrent clients, against ``predict_proba`` in one process.

Starts ``skpneumo serve MODEL`` on a free 127.0.0.1 port (loopback only), sends
``--requests`` one-film requests from ``--clients`` concurrent clients (bounded by
``--max-seconds`` too), then calls ``predict_proba`` on the same films in this
process, in batches of the server's ``--max-batch-size``. Prints films per second of
both, their ratio and the request latency p50/p99.

    python benchmarks/serve.py ../shared/data/chest_xray/test-dev --films 64 --requests 256
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a folder of films (searched recursively for .jpeg/.png)")
    parser.add_argument("--model", default="kermany-v2")
    parser.add_argument("--films", type=int, default=64, help="distinct films sent (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=256, help="requests in all (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=10)
    args = parser.parse_args()

    films = sorted(p for p in Path(args.data).rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    films = films[:: max(1, len(films) // args.films)][: args.films]
    payloads = [(p.name, p.read_bytes()) for p in films]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "skpneumo", "--quiet", "serve", args.model, "--port", str(port),
                               "--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)],
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.5)
        with httpx.Client(timeout=120) as warm:  # first call builds the model's graph
            warm.post(url + "/v1/predict", files=[("files", payloads[0])]).raise_for_status()
        latencies, stop = [], time.monotonic() + args.max_seconds

        def client(k):
            with httpx.Client(timeout=120) as http:
                for i in range(k, args.requests, args.clients):
                    if time.monotonic() > stop:
                        return
                    t0 = time.perf_counter()
                    answer = http.post(url + "/v1/predict", files=[("files", payloads[i % len(payloads)])])
                    answer.raise_for_status()
                    latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        served = len(latencies) / (time.perf_counter() - t0)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    import skpneumo

    model = skpneumo.load_model(args.model)
    paths = [str(films[i % len(films)]) for i in range(len(latencies))]
    model.predict_proba(paths[:1])
    t0 = time.perf_counter()
    for start in range(0, len(paths), args.max_batch_size):
        model.predict_proba(paths[start:start + args.max_batch_size])
    direct = len(paths) / (time.perf_counter() - t0)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(f"{len(latencies)} requests of one film ({len(films)} distinct films), {args.clients} clients, "
          f"batches of up to {args.max_batch_size}, wait {args.max_wait_ms:g} ms")
    print(f"served:        {served:.1f} films/s, latency p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"predict_proba: {direct:.1f} films/s (same films, batches of {args.max_batch_size}, one process)")
    print(f"ratio:         {served / direct:.2f}x")


if __name__ == "__main__":
    main()
