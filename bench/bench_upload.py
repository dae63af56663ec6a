"""The API during its heaviest legitimate upload: /healthz latency on the uploading worker and the API's memory.

    OMP_NUM_THREADS=1 python bench/bench_upload.py [--rows 2000000] [--bytes 268000000] [--workers 2] [--cereal 20]

Starts redis-server and `uvicorn --workers 2` (as docker-compose.yml runs the API) with the shipped defaults,
writes a product CSV of `--rows` rows just under `--bytes`, uploads it while /healthz is polled every 10 ms on a
connection the uploading worker serves (and one the other worker serves), and prints the upload's wall time, the
/healthz p50/p99/max per worker, the peak RSS of the API's process tree (all uvicorn processes and their children)
over its idle level, as a multiple of the file, and the uploading worker's own peak. Then times `--cereal` uploads
of the cereal product data (a typical small upload) one after another.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)
import httpx
import upload_probe
from processes import RedisServer
from upload_probe import Api, MemorySampler, Poller, p99, pinned_connections, upload_on, write_products_csv

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, default=2_000_000)
    parser.add_argument('--bytes', type=int, default=268_000_000)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--cereal', type=int, default=20)
    parser.add_argument('--csv', type=Path, help='reuse (or keep) the generated CSV at this path')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        started = time.perf_counter()
        csv = args.csv or directory / 'products.csv'
        if csv.exists():
            size = csv.stat().st_size
        else:
            size = write_products_csv(csv, args.rows, args.bytes)
            print(f'wrote {size:,} bytes, {args.rows:,} rows in {time.perf_counter() - started:.1f} s')
        server = RedisServer(directory / 'redis', appendonly=False)
        api = Api(server.url, workers=args.workers)
        try:
            sampler = MemorySampler(api)
            idle = sampler.settled()  # the numerics processes start meanwhile, as before traffic
            connections = pinned_connections(api, want=args.workers)
            poller = Poller(connections)
            sampler.start()
            poller.start()
            time.sleep(0.5)
            started = time.perf_counter()
            status, body, owner = upload_on(api, csv)
            took = time.perf_counter() - started
            time.sleep(0.3)
            poller.stop()
            sampler.stop()
            print(f'upload: {status} in {took:.1f} s ({body.get("rows")} rows, {body.get("detail", "")})')
            for pid, latencies in poller.latencies.items():
                role = 'uploading worker' if pid == owner else 'other worker'
                print(f'  /healthz on {role} {pid}: {len(latencies)} polls, p50 {statistics.median(latencies) * 1000:.1f} ms,'
                      f' p99 {p99(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms')
                sending = [t for t, at in zip(latencies, poller.started[pid]) if at < upload_probe.body_sent_at]
                parsing = [t for t, at in zip(latencies, poller.started[pid]) if at >= upload_probe.body_sent_at]
                print(f'    while the body was sent: {len(sending)} polls, p99 {p99(sending) * 1000:.1f} ms; while it '
                      f'was parsed: {len(parsing)} polls, p99 {p99(parsing) * 1000:.1f} ms')
            if poller.failures:
                print('  poll failures:', poller.failures[:5])
            grown = sampler.peak_total - idle
            print(f'  API tree RSS: idle {idle / 1e6:.0f} MB, peak {sampler.peak_total / 1e6:.0f} MB, grown '
                  f'{grown / 1e6:.0f} MB = {grown / size:.2f}x the file ({sampler.samples} samples)')
            top = sorted(sampler.peak_by_pid.items(), key=lambda item: -item[1])[:3]
            print('  peak RSS by process:', ', '.join(f'{pid}{"*" if pid == owner else ""} {used / 1e6:.0f} MB'
                                                      for pid, used in top))
            print(f'  uploading worker peak RSS {sampler.peak_by_pid.get(owner or 0, 0) / 1e6:.0f} MB')
            from examples import cereal

            cereal_csv = cereal.product_data().to_csv(index=False).encode()
            times = []
            with httpx.Client(base_url=api.base, timeout=60) as client:
                for _ in range(args.cereal):
                    started = time.perf_counter()
                    response = client.post('/v1/datasets', content=cereal_csv, headers={'Content-Type': 'text/csv'})
                    times.append(time.perf_counter() - started)
                    assert response.status_code in (200, 201), response.text
            if times:
                print(f'cereal CSV upload ({len(cereal_csv):,} bytes) x{len(times)}: median '
                      f'{statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms')
        finally:
            api.stop()
            server.stop()
    print(f'load average: {os.getloadavg()}')


if __name__ == '__main__':
    main()
