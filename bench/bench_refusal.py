"""How fast an over-budget request is refused, and what datasets cost in Redis, through a real uvicorn on loopback.

    python bench/bench_refusal.py [--busy N]

Starts redis-server and uvicorn on free ports, uploads the cereal product data and 1,000 agents per market
(printing their Redis bytes, MEMORY USAGE), then submits the 1,500-node Gauss-Hermite product rule on two random
coefficients (2.25 million agents per market) a few times and prints each refusal's wall time. With `--busy N`,
N processes at nice 0 spin while the requests are made (every core busy, as with workers solving beside the API):
the refusal must not wait for the API's numerics processes (nice 19).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)
import httpx
import redis
from processes import free_port

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                             {'formula': '0 + mushy + prices'}],
                    'integration': {'specification': 'product', 'size': 1500}},
        'solve': {'sigma': [[1, 0], [0, 1]], 'method': '1s'}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--busy', type=int, default=0, help='processes spinning at nice 0 during the requests')
    arguments = parser.parse_args()
    from examples import cereal

    redis_port, api_port = free_port(), free_port()
    server = subprocess.Popen(['redis-server', '--port', str(redis_port), '--save', '', '--dir', tempfile.mkdtemp()],
                              stdout=subprocess.DEVNULL)
    api = subprocess.Popen([sys.executable, '-m', 'uvicorn', 'service.main:app', '--port', str(api_port),
                            '--log-level', 'warning'], cwd=ROOT,
                           env={**os.environ, 'REDIS_URL': f'redis://127.0.0.1:{redis_port}/0', 'PYTHONPATH': ROOT})
    base, store = f'http://127.0.0.1:{api_port}', redis.Redis(port=redis_port)
    try:
        for _ in range(200):
            try:
                httpx.get(f'{base}/healthz')
                break
            except httpx.TransportError:
                time.sleep(0.05)
        time.sleep(3)  # the API's numerics processes start meanwhile (as they would before traffic)
        ids = {}
        for name, frame in (('products', cereal.product_data()), ('1,000 agents per market', cereal.agent_data(1000))):
            ids[name] = httpx.post(f'{base}/v1/datasets', content=frame.to_csv(index=False).encode(), timeout=60,
                                   headers={'Content-Type': 'text/csv'}).json()['id']
            used = sum(store.memory_usage(key, samples=0) for key in store.scan_iter(match=f'blp:dataset:{ids[name]}*'))
            print(f'dataset {name} ({len(frame):,} rows): {used:,} bytes of Redis')
        body = {'kind': 'estimate', 'product_data': {'dataset_id': ids['products']}, 'spec': SPEC}
        spinners = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(arguments.busy)]
        try:
            time.sleep(1 if spinners else 0)
            for _ in range(3):
                started = time.perf_counter()
                response = httpx.post(f'{base}/v1/jobs', json=body, timeout=120)
                print(f'{response.status_code} in {time.perf_counter() - started:.3f} s: {response.json()["detail"]}')
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
    finally:
        api.terminate()
        api.wait()
        server.terminate()


if __name__ == '__main__':
    main()
