"""``arccnet-ckpt groups`` and ``group show`` against ``arccnet-ckpt ls`` over the same folder, each a fresh process.

The ``--n`` run folders of ``load_runs.py`` (default 10,000, four root names), each root's runs put in groups of
five in start order (``group: {id, source: "argument", index}``; about 2,000 groups). ``ls`` validates every summary
and prints one row per run; ``groups`` reads the same summaries and prints one row per group (mean ± std of the best
value and of the test metric); ``group show`` finds one group among them and reads its runs' reports. The three
commands alternate, ``--repeats`` times each after one warm-up of each (a warm page cache and compiled bytecode for
all); medians are compared, process start included.

Target: ``groups`` and ``group show`` each within 1.3x of ``ls``.

Usage::

    python benchmarks/cli_groups.py                  # 10,000 runs in a temporary folder, removed afterwards
    python benchmarks/cli_groups.py --dir /tmp/arc-groups   # reuse (or keep) the folder
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from cli_ls import _time
from load_runs import folder_arguments, run_folders

TARGET = 1.3
GROUP_SIZE = 5


def add_groups(data: Path) -> tuple[int, str]:
    """Give each root's runs, in start order, a group of :data:`GROUP_SIZE`; return the number of groups and the
    id of one in the middle. Runs already grouped (a reused folder) are left as they are."""
    ids: list[str] = []
    roots = sorted({p.parent for p in (data / "checkpoints").glob("*/*/*") if p.is_dir()})
    for root in roots:
        runs = sorted(p for p in root.iterdir() if p.is_dir())  # folder names start with the start time
        for position, run in enumerate(runs):
            path = run / "training_summary.json"
            summary = json.loads(path.read_text(encoding="utf-8"))
            group_id = f"{root.name}-cv{position // GROUP_SIZE:04d}"
            if summary.get("group") is None:
                summary["group"] = {"id": group_id, "source": "argument", "index": position % GROUP_SIZE}
                path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            if position % GROUP_SIZE == 0:
                ids.append(group_id)
    return len(ids), ids[len(ids) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_arguments(parser)
    parser.add_argument("--repeats", type=int, default=11, help="timed repeats of each; medians compared (default 11)")
    args = parser.parse_args()

    with run_folders(args.dir, args.n) as data:
        count, some_id = add_groups(data)
        print(f"{count} groups of up to {GROUP_SIZE} runs; group show {some_id}")
        script = Path(sys.executable).with_name("arccnet-ckpt")
        base = [str(script)] if script.exists() else [sys.executable, "-m", "arccnet_ckpt"]
        commands = {
            "ls": [*base, "ls", str(data)],
            "groups": [*base, "groups", str(data)],
            "group show": [*base, "group", "show", some_id, "--data", str(data)],
        }
        for command in commands.values():
            _time(command)  # warm-up: page cache, .pyc files
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(_time(command))
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print(f"arccnet-ckpt {name:<11} (fresh process), median: {value * 1000:8.1f} ms")
        for name in ("groups", "group show"):
            ratio = medians[name] / medians["ls"]
            verdict = "holds" if ratio <= TARGET else "MISSED"
            print(f"ratio {name:<10} / ls: {ratio:6.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
