"""``arccnet-ckpt ls`` as a fresh process, against the naive ``glob + json.load`` loop, also as a fresh process.

The command line starts a new interpreter each time, so its import time counts; so does the naive script's. Both
read the same ``--n`` run folders (default 10,000, built as in ``load_runs.py``); ``ls`` validates every summary,
sorts by start time and prints the default table (to ``/dev/null``). The two commands alternate, ``--repeats``
times each after one warm-up of each (a warm page cache for both); medians are compared. The children run without
``PYTHONDONTWRITEBYTECODE``, so the warm-up caches the package's bytecode as ``pip install`` does: with it set (as
on some build machines), every start of an editable install compiles the package's source again (about 50 ms).

Target: ``ls`` within 1.3x of the naive loop.

Usage::

    python benchmarks/cli_ls.py                 # 10,000 runs in a temporary folder, removed afterwards
    python benchmarks/cli_ls.py --dir /tmp/arc-bench   # reuse (or keep) the folder
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from load_runs import folder_arguments, run_folders

TARGET = 1.3

NAIVE = """
import glob, json, os, sys
out = []
for path in glob.glob(os.path.join(sys.argv[1], "checkpoints", "**", "training_summary.json"), recursive=True):
    with open(path, encoding="utf-8") as fh:
        out.append(json.load(fh))
print(len(out))
"""


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=_ENV)  # noqa: S603
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_arguments(parser)
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats of each; medians compared (default 15)")
    args = parser.parse_args()

    with run_folders(args.dir, args.n) as data:
        # The console script, as a user runs it (python -m arccnet_ckpt adds runpy's start-up).
        script = Path(sys.executable).with_name("arccnet-ckpt")
        ls = (
            [str(script), "ls", str(data)]
            if script.exists()
            else [sys.executable, "-m", "arccnet_ckpt", "ls", str(data)]
        )
        naive = [sys.executable, "-c", NAIVE, str(data)]
        _time(ls), _time(naive)  # warm-up: page cache, .pyc files
        t_ls, t_naive = [], []
        for _ in range(args.repeats):
            t_ls.append(_time(ls))
            t_naive.append(_time(naive))
        ls_s, naive_s = statistics.median(t_ls), statistics.median(t_naive)
        ratio = ls_s / naive_s
        print(f"arccnet-ckpt ls (fresh process), median:   {ls_s * 1000:8.1f} ms")
        print(f"naive glob + json.load (fresh process):    {naive_s * 1000:8.1f} ms")
        print(
            f"ratio ls / naive:                          {ratio:8.2f}x (target <= {TARGET}x: "
            f"{'holds' if ratio <= TARGET else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
