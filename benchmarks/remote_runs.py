"""``find_runs`` (and so ``arccnet-ckpt ls``) over ``s3://``: one listing and one concurrent batch of GETs.

Starts the tests' moto S3 server on 127.0.0.1, in a process of its own, uploads ``--n`` run folders (default 1,000,
built as in ``load_runs.py``), then times, on the same bucket:

* ``find_runs("s3://.../data")``: one recursive listing, then every summary fetched concurrently (fsspec's batched
  ``cat``), validated and sorted;
* the loop a user would write: the same listing, then one ``GET`` per summary, one after another, ``json.loads``.

Each figure is the median of ``--repeats`` runs, the listing cache cleared before each. Target: ``find_runs`` at
least 10x faster than the sequential loop.

On loopback, moto answers at once but spends a few milliseconds of this machine's CPU on each request, and the
client (botocore) as much again: that is all a GET costs here, and concurrency cannot hide CPU time on two cores. A
real object store costs the client little CPU and a wait instead: AWS gives 100-200 ms to the first byte of a small
object. The server therefore answers each request ``--latency`` seconds late (default 0.02, well under AWS's
figure), on its own clock, not this machine's CPU; ``--latency 0`` measures loopback alone.

Usage::

    python benchmarks/remote_runs.py            # 1,000 runs
    python benchmarks/remote_runs.py --n 200    # quicker
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load_runs import build_runs, median_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "helpers"))
from s3server import moto_s3_process  # noqa: E402 - the tests' helper, found through the path above

from arccnet_ckpt import find_runs  # noqa: E402

TARGET = 10.0
BUCKET = "arc-bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="number of run folders (default 1000)")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats; the median is printed (default 1)")
    parser.add_argument(
        "--latency",
        default="0,0.02,0.1",
        help="comma-separated seconds the server waits per request (default 0,0.02,0.1); the target is judged at "
        "the last one",
    )
    args = parser.parse_args()
    latencies = [float(x) for x in args.latency.split(",")]

    import s3fs

    local = Path(tempfile.mkdtemp(prefix="arc-bench-s3-"))
    try:
        build_runs(local, args.n)
        with moto_s3_process() as (_, set_latency):
            fs = s3fs.S3FileSystem()
            fs.mkdir(BUCKET)
            t0 = time.perf_counter()
            fs.put(str(local / "checkpoints"), f"{BUCKET}/data/checkpoints", recursive=True)
            print(f"uploaded {args.n} run folders to the moto server in {time.perf_counter() - t0:.1f} s")
            url = f"s3://{BUCKET}/data"

            def sequential() -> list[dict[str, Any]]:
                keys = [k for k in fs.find(f"{BUCKET}/data/checkpoints") if k.endswith("/training_summary.json")]
                return [json.loads(fs.cat_file(k)) for k in keys]

            find_runs(url)  # warm-up: the server's first requests, s3fs's session
            print(f"{'latency':>8}  {'find_runs':>10}  {'sequential':>10}  {'speed-up':>8}")
            ratio = 0.0
            for latency in latencies:
                set_latency(latency)
                cold = {"warm_up": False, "before": fs.invalidate_cache}  # warmed up once above
                t_find, runs = median_time(lambda: find_runs(url), args.repeats, **cold)
                t_seq, raw = median_time(sequential, args.repeats, **cold)
                assert len(runs) == len(raw) == args.n, (len(runs), len(raw))
                ratio = t_seq / t_find
                print(f"{latency * 1000:6.0f} ms  {t_find:8.2f} s  {t_seq:8.2f} s  {ratio:7.1f}x")
            verdict = "holds" if ratio >= TARGET else "MISSED"
            print(f"target: find_runs >= {TARGET:.0f}x faster at {latencies[-1] * 1000:.0f} ms per request: {verdict}")
    finally:
        shutil.rmtree(local, ignore_errors=True)


if __name__ == "__main__":
    main()
