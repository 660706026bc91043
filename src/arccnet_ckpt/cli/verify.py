"""``verify``: one line per problem in run folders, for CI jobs and cron.

:func:`verify` finds the runs and returns a :class:`Verified` (the problems, and how many runs were checked);
:func:`verify_runs` checks runs already found.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from arccnet_ckpt import capture, store
from arccnet_ckpt.cli import output, parser
from arccnet_ckpt.cli.select import EXIT_OK, EXIT_PROBLEMS, find
from arccnet_ckpt.core.lifecycle import status_of
from arccnet_ckpt.errors import ArcCkptError
from arccnet_ckpt.records import ClassificationReport, TrainingSummary
from arccnet_ckpt.runs import Run, load_checkpoint_safely
from arccnet_ckpt.store import list_files


@dataclass
class Verified(output.Rendered):
    """What ``verify`` found: ``(path, problem)`` for every problem, and how many run folders were checked."""

    problems: list[tuple[str, str]]
    checked: int

    def document(self) -> dict[str, Any]:
        return {
            "schema": "arccnet-ckpt/verify",
            "runs": self.checked,
            "problems": list(self.lines()),
        }

    def lines(self) -> Iterator[dict[str, Any]]:
        return ({"path": p, "problem": m} for p, m in self.problems)

    def csv(self) -> tuple[list[str], list[tuple[str, str]]]:
        return ["path", "problem"], self.problems

    def text(self, colour: bool) -> None:
        for path, problem in self.problems:
            output.write_line(f"{path}: {problem}")

    @property
    def exit_code(self) -> int:
        """1 when there are problems, or nothing was checked."""
        return EXIT_PROBLEMS if self.problems or not self.checked else EXIT_OK


def verify(targets: Iterable[str], data: str | None, *, load: bool, now: datetime, stale_after: timedelta) -> Verified:
    """Every problem in the run folders at ``targets`` (see :func:`verify_runs`); run folders that cannot be read
    at all are problems too.

    Raises:
        NoMatch: If a target does not exist.
    """
    found = find(targets, data)
    checking = output.progress(found.runs, "loading checkpoints" if load else "verifying")
    problems = list(found.problems)
    problems += verify_runs(checking, load=load, now=now, stale_after=stale_after)
    return Verified(problems, len(found.runs) + len(found.problems))


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify``: every file validates, the best checkpoint exists (``--load``: loads), no temporary leftovers."""
    now = datetime.now(timezone.utc)
    verified = verify(args.targets, args.data, load=args.load, now=now, stale_after=parser.stale_after(args))
    output.render(verified, args.format)
    output.message(f"verified {verified.checked} run(s): {len(verified.problems)} problem(s)")
    if not verified.checked:
        output.message("no run folder found: nothing was verified")
    return verified.exit_code


def verify_runs(runs: Iterable[Run], *, load: bool, now: datetime, stale_after: timedelta) -> list[tuple[str, str]]:
    """``(path, problem)`` for every problem in ``runs``.

    Checks that every JSON file validates (legacy files converted as the loader does), that the best checkpoint
    the summary names exists, that a completed training run has a checkpoint at all, that no temporary file of an
    interrupted write is left, that ``classification_report.json`` and the summary's ``test_results`` agree, and
    that no run says ``running`` with a stale heartbeat. With ``load``, each best checkpoint is read with
    ``torch.load`` (this imports torch), and its ``hyper_parameters`` and ``datamodule_hyper_parameters`` are checked
    for secrets written as they are (a secret-named key whose value is not ``***``, credentials inside a string):
    reading them needs the checkpoint loaded, so this check comes with ``load``.
    """
    problems: list[tuple[str, str]] = []
    for run in runs:
        problems.extend(_verify_one(run, load=load, now=now, stale_after=stale_after))
    return problems


def _verify_one(run: Run, *, load: bool, now: datetime, stale_after: timedelta) -> list[tuple[str, str]]:
    from arccnet_ckpt.records import ARTIFACTS

    problems: list[tuple[str, str]] = []
    for attribute in ARTIFACTS:
        try:
            getattr(run, attribute)
        except ArcCkptError as e:
            problems.append((run.path, str(e).removeprefix(run.path + "/").removeprefix(run.path + os.sep)))
    names = [store.basename(p) for p in list_files(run.path)]
    problems.extend(
        (run.path, f"leftover temporary file {n} (an interrupted write)") for n in names if store.is_temporary(n)
    )
    try:
        summary = run.summary
    except ArcCkptError:
        return problems
    problems.extend((run.path, problem) for problem in _test_results_disagree(run))
    recorded = summary.best_model_path if summary else None
    checkpoint = run.best_checkpoint
    if recorded and (checkpoint is None or store.basename(checkpoint) != store.basename(recorded)):
        problems.append((run.path, f"best_model_path {recorded!r} does not exist"))
    elif summary is not None and summary.status == "completed" and summary.kind == "training" and not run.checkpoints:
        problems.append((run.path, "a completed training run without any checkpoint"))
    if status_of(summary, now, stale_after) == "stale":
        beat = summary.updated_at or summary.start_time if summary else None
        problems.append((run.path, f"says running, but its last heartbeat was {beat:%Y-%m-%d %H:%M} UTC (stale)"))
    if load and checkpoint is not None:
        problems.extend(_load(run.path, checkpoint))
    return problems


def _test_results_disagree(run: Run) -> list[str]:
    """The problem, if any, of a ``classification_report.json`` and a summary ``test_results`` that disagree.

    The test end writes the report first, then the summary: a run killed between the two has a report whose numbers
    the summary lacks (or, after a second test, still holds the first test's). Metrics only one file has (a script
    that wrote a subset by hand) and ``null`` ones are not compared, nor a ``running`` run: a live one may be between
    the two writes now (a dead one is reported as stale).
    """
    try:
        report, summary = run.report, run.summary
    except ArcCkptError:
        return []  # reported above
    if report is None or summary is None or summary.status == "running" or not report.test_metrics:
        return []
    files = f"{ClassificationReport.filename} and {TrainingSummary.filename}"
    if not summary.test_results:
        return [
            f"{files} disagree: the report holds test metrics ({', '.join(sorted(report.test_metrics))}) and the "
            "summary's test_results is empty (killed between the two writes at the end of a test?)"
        ]
    differ = [
        f"{key} {value!r} != {summary.test_results[key]!r}"
        for key, value in sorted(report.test_metrics.items())
        if _differ(value, summary.test_results.get(key))
    ]
    if not differ:
        return []
    return [
        f"{files} disagree on {', '.join(differ)} (report != summary test_results): the summary is from another test, "
        "or a run was killed between the two writes at the end of a test"
    ]


def _differ(a: object, b: object) -> bool:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) or isinstance(b, bool):
        return False  # a metric one file lacks, or a null: nothing to compare
    return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _load(folder: str, checkpoint: str) -> list[tuple[str, str]]:
    """``torch.load`` with ``weights_only=True``: a folder from someone else never runs code on this machine."""
    name = store.basename(checkpoint)
    try:
        data = load_checkpoint_safely(checkpoint)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return [(folder, f"{name} cannot be loaded: {type(e).__name__}: {first}")]
    return [(folder, problem) for problem in _exposed_secrets(name, data)]


_HPARAM_KEYS = ("hyper_parameters", "datamodule_hyper_parameters")
"""Where Lightning keeps the module's and the datamodule's hparams in a checkpoint."""


def _exposed_secrets(name: str, data: object) -> list[str]:
    """A problem line for each place in a loaded checkpoint's hparams that holds a secret as it is (never the value)."""
    if not isinstance(data, dict):
        return []
    return [
        f"{name} holds a secret that is not redacted at {path} (ArcCheckpointCallback hides it unless "
        "redact_checkpoint_hparams=False or save_weights_only=True; anyone who can read the file can read it)"
        for key in _HPARAM_KEYS
        if key in data
        for path in capture.exposed_secrets(data[key], key)
    ]
