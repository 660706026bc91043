"""``prune`` and ``trash`` on a shared cluster file system: other people's folders and symbolic links, prunes killed
half-way, planted manifests, odd root names, live runs and checkpoints other runs use.

Run folders are written here as the package writes them (a summary, a config, checkpoints), without a Trainer, so
that the SIGKILL loops stay fast. Every test calls the command line in-process (or as a killed subprocess) and checks
what a user would: which files exist, byte for byte, and what the command said.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import cli

from arccnet_ckpt import ArcCheckpointCallback, TrainingSummary, store
from arccnet_ckpt.core.lifecycle import is_stale
from arccnet_ckpt.layout import run_folder_name

HELPER = Path(__file__).parents[1] / "helpers" / "prune_killed.py"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def make_run(
    data: Path,
    root: str,
    *,
    minutes: int = 0,
    model: str = "resnet18",
    status: str = "completed",
    checkpoints: dict[str, bytes] | None = None,
    in_folder: Path | None = None,
    **fields: Any,
) -> Path:
    """A run folder as the package writes it, at ``<data>/checkpoints/<root>/<stamp>_<model>_focal`` (or at
    ``in_folder``): a summary recording ``root``, a config, and ``checkpoints`` (default: a best and a last)."""
    start = T0 + timedelta(minutes=minutes)
    folder = in_folder or data / "checkpoints" / Path(*root.split("/")) / run_folder_name(start, model, "focal")
    folder.mkdir(parents=True)
    if checkpoints is None:
        checkpoints = {"best-epoch02-val_f1-0.900.ckpt": os.urandom(64), "last.ckpt": os.urandom(48)}
    for name, content in checkpoints.items():
        (folder / name).write_bytes(content)
    summary = TrainingSummary(
        status=status,
        start_time=start,
        end_time=None if status == "running" else start + timedelta(hours=1),
        model_name=model,
        loss_function="focal",
        root_name=root,
        run_name=folder.name,
        num_epochs_trained=3,
        best_model_path=next(iter(checkpoints), None),
    )
    record = {**json.loads(store.model_to_json(summary)), **fields}
    (folder / "training_summary.json").write_text(json.dumps(record, indent=2, default=str))
    (folder / "config.json").write_text(
        json.dumps({"schema_version": 1, "config": {"lr": 0.1}, "created_at": str(start)})
    )
    return folder


def tree(folder: Path, *, skip: str | None = ".trash") -> dict[str, bytes | str]:
    """Every file under ``folder`` (relative path -> bytes; a link -> ``link:<target>``), ``skip`` left out."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if skip is not None and rel.parts[0] == skip:
            continue
        if path.is_symlink():
            found[str(rel)] = f"link:{os.readlink(path)}"
        elif path.is_file():
            found[str(rel)] = path.read_bytes()
    return found


def trash_ids(capsys: pytest.CaptureFixture[str], data: Path) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "trash", "ls", "--data", data, "--format", "json")
    assert code == 0, err
    return json.loads(out)["entries"]


def trash_left(data: Path) -> list[Path]:
    """What is in ``<data>/.trash`` (nothing when a prune was killed before it made the folder)."""
    return sorted((data / ".trash").iterdir()) if (data / ".trash").exists() else []


def restore_everything(capsys: pytest.CaptureFixture[str], data: Path) -> list[str]:
    """``trash restore`` every entry; the messages it printed."""
    said = []
    for entry in trash_ids(capsys, data):
        _, _, err = cli(capsys, "trash", "restore", entry["id"], "--data", data)
        said.append(err)
    return said


# ------------------------------------------------------------------------------------------------ symbolic links


@pytest.fixture
def linked(tmp_path: Path) -> dict[str, Path]:
    """A data folder whose root folder ``elsewhere``, run folder ``flares/<b>`` and checkpoint
    ``flares/<a>/shared.ckpt`` are symbolic links to another user's files outside it."""
    data, outside = tmp_path / "data", tmp_path / "someone-else"
    foreign_root = outside / "their-root"
    their_run = make_run(outside, "x", minutes=1, in_folder=foreign_root / "2025-03-01_09-01-00_vit_focal")
    their_other = make_run(outside, "x", minutes=2, in_folder=outside / "2025-03-01_09-02-00_vit_focal")
    (outside / "weights.ckpt").write_bytes(os.urandom(80))
    a = make_run(data, "flares")
    (data / "checkpoints" / "elsewhere").symlink_to(foreign_root, target_is_directory=True)
    b = data / "checkpoints" / "flares" / their_other.name
    b.symlink_to(their_other, target_is_directory=True)
    (a / "shared.ckpt").symlink_to(outside / "weights.ckpt")
    return {"data": data, "outside": outside, "a": a, "b": b, "their_run": their_run}


def test_prune_and_trash_never_touch_what_a_symlink_in_the_data_folder_points_to(
    linked: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, outside, a = linked["data"], linked["outside"], linked["a"]
    before = tree(outside)

    code, out, err = cli(capsys, "prune", data, "--older-than", "0s", "--what", "weights", "--yes", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert {i["path"] for i in document["items"]} == {str(a / "best-epoch02-val_f1-0.900.ckpt"), str(a / "last.ckpt")}
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    link_root = data / "checkpoints" / "elsewhere"
    assert skipped[str(link_root / linked["their_run"].name)].startswith(f"{link_root} is a symbolic link (to ")
    assert skipped[str(linked["b"])].startswith(f"{linked['b']} is a symbolic link (to ")
    assert skipped[str(a / "shared.ckpt")].startswith(f"{a / 'shared.ckpt'} is a symbolic link (to ")
    assert all("never follow one" in reason for reason in skipped.values())
    assert tree(outside) == before

    # Whole runs, in the table: the real run goes (its link as a link), the linked ones are listed as left.
    code, out, err = cli(capsys, "prune", data, "--older-than", "0s", "--yes")
    assert code == 0, err
    assert f"left {linked['b']}: {linked['b']} is a symbolic link (to " in out
    assert f"left {link_root / linked['their_run'].name}: {link_root} is a symbolic link" in out
    assert not a.exists()
    assert tree(outside) == before

    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 0, err
    assert "deleted 2 trash entries" in err
    assert trash_left(data) == []
    assert tree(outside) == before  # every outside file still there, byte for byte
    assert linked["b"].is_symlink()
    assert (data / "checkpoints" / "elsewhere").is_symlink()


def test_a_symlinked_trash_folder_is_never_used(linked: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, outside = linked["data"], linked["outside"]
    elsewhere = outside / "bin"
    elsewhere.mkdir()
    (data / ".trash").symlink_to(elsewhere, target_is_directory=True)
    before = tree(linked["a"])
    code, _, err = cli(capsys, "prune", data, "--older-than", "0s", "--yes")
    assert code == 2
    assert f"nothing moved: the trash entry {data / '.trash'}/" in err
    assert "is a symbolic link" in err
    assert tree(linked["a"]) == before
    assert list(elsewhere.iterdir()) == []


def test_a_run_folder_swapped_for_a_link_after_the_plan_is_not_moved(tmp_path: Path) -> None:
    from arccnet_ckpt.cli import trash
    from arccnet_ckpt.cli.planning import KeepRules, plan
    from arccnet_ckpt.runs import scan_runs

    data = tmp_path / "data"
    first, second = make_run(data, "flares"), make_run(data, "flares", minutes=1)
    runs, _ = scan_runs(data / "checkpoints")
    now = datetime.now(timezone.utc)
    planned = plan(runs, runs, rules=KeepRules(), what="run", now=now, stale_after=timedelta(hours=1))
    assert [i.path for i in planned.items] == [str(first), str(second)]
    theirs = tmp_path / "theirs"
    second.rename(theirs)  # someone swaps the folder for a link to theirs, between the plan and the move
    second.symlink_to(theirs, target_is_directory=True)
    before = tree(theirs)
    entries, failed = trash.move_to_trash(planned.items, now)
    assert [(item.path, why) for item, why in failed] == [
        (
            str(second),
            f"not moved: {second} is a symbolic link (to {theirs}): prune and trash never follow one, so "
            "nothing is moved or deleted through it",
        )
    ]
    assert tree(theirs) == before
    assert second.is_symlink()
    (entry,) = entries
    assert [i["original"] for i in json.loads(Path(entry, "manifest.json").read_text())["items"]] == [str(first)]


def test_prune_never_moves_a_run_folder_with_the_runs_nested_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fold loop sharing its dirpath nests folds 2.. in fold 1's folder: pruning fold 1 must not take them along."""
    data = tmp_path / "data"
    fold1 = make_run(data, "cv")
    fold2 = make_run(data, "cv", minutes=1, in_folder=fold1 / run_folder_name(T0 + timedelta(minutes=1), "net", "ce"))
    code, out, err = cli(capsys, "prune", "--data", data, "--older-than", "1d", "--yes", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert [item["path"] for item in result["items"]] == [str(fold2)]
    assert [(s["path"], s["reason"]) for s in result["skipped"]] == [
        (str(fold1), f"it holds other runs ({fold2.name}): prune those first")
    ]
    assert (fold1 / "training_summary.json").exists()
    assert not fold2.exists()
    code, out, err = cli(capsys, "prune", "--data", data, "--older-than", "1d", "--yes", "--format", "json")  # now none
    assert code == 0, err
    assert [item["path"] for item in json.loads(out)["items"]] == [str(fold1)]


# ---------------------------------------------------------------------------------------------- killed half-way


def _several_runs(data: Path, count: int = 4) -> None:
    for i in range(count):
        root = "flares/binary" if i % 2 else "flares/multiclass"
        make_run(data, root, minutes=i, model=f"net{i}", status="failed" if i % 3 == 0 else "completed")


def _kill_and_check(data: Path, argv: list[str], capsys: pytest.CaptureFixture[str], *, rerun: bool) -> int:
    """Run the helper to its end or its own SIGKILL; then (after re-running the prune to its end, with ``rerun``)
    restore every entry: the data folder must be as it was, byte for byte, and the trash empty.

    Returns:
        The helper's exit code.
    """
    before = tree(data)
    result = subprocess.run([sys.executable, str(HELPER), *argv], capture_output=True, text=True, timeout=120)
    if rerun:
        code, _, err = cli(capsys, "prune", data, "--older-than", "0s", "--yes")
        assert code == 0, err
    said = restore_everything(capsys, data)
    assert tree(data) == before, f"{argv} (exit {result.returncode}): lost or changed files; restore said {said}"
    assert trash_left(data) == [], said
    return result.returncode


def _half_way(data: Path) -> bool:
    """Whether a prune was caught between its first move and its last: checkpoints both in the trash and not."""
    trashed = any(p.suffix == ".ckpt" for p in (data / ".trash").rglob("*"))
    return trashed and any(p.suffix == ".ckpt" for p in (data / "checkpoints").rglob("*"))


@pytest.mark.parametrize("what", ["run", "weights"])
def test_a_prune_killed_at_random_moments_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    data = tmp_path / "data"
    _several_runs(data, 12)
    argv = ["random", "0", "prune", str(data), "--older-than", "0s", "--what", what, "--yes"]
    # How long the prune itself takes here, after the imports: the kills fall inside that window.
    started = time.monotonic()
    probe = subprocess.Popen([sys.executable, str(HELPER), *argv], stdout=subprocess.PIPE, text=True)
    assert probe.stdout is not None
    assert probe.stdout.readline() == "ready\n"
    ready = time.monotonic()
    assert probe.wait(timeout=120) == 0
    window = max(time.monotonic() - ready, 0.01)
    assert time.monotonic() - started < 120
    restore_everything(capsys, data)
    before = tree(data)

    kills = half_way = tries = 0
    rng = random.Random(16)  # noqa: S311 - kill moments, not secrets
    # A busy machine can finish a prune before its kill lands: go on until 10 kills landed (bounded).
    while kills < 10 and tries < 40:
        tries += 1
        child = subprocess.Popen([sys.executable, str(HELPER), *argv], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.8 * window))
        child.send_signal(signal.SIGKILL)
        kills += child.wait(timeout=60) == -signal.SIGKILL
        half_way += _half_way(data)
        said = restore_everything(capsys, data)
        assert tree(data) == before, f"kill {kills}: lost or changed files; restore said {said}"
        assert trash_left(data) == [], said
    assert kills >= 10  # at least 20 over both parametrisations
    assert half_way >= 1  # some kills fell between the first move and the last


def test_a_prune_killed_at_each_manifest_write_and_each_move_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = 4  # 4 moves, 5 manifest writes (each item's intent, then the last one's "moved")
    prune = ["prune", "DATA", "--older-than", "0s", "--yes"]
    points = [("write", n) for n in range(1, runs + 2)]
    points += [("inside-write", n) for n in range(1, runs + 2)]
    points += [("move", n) for n in range(1, runs + 1)]
    for mode, nth in points:
        for rerun in (False, True):
            data = tmp_path / f"{mode}-{nth}-{rerun}" / "data"
            _several_runs(data, runs)
            argv = [mode, str(nth), *(str(data) if a == "DATA" else a for a in prune)]
            code = _kill_and_check(data, argv, capsys, rerun=rerun)
            assert code == -signal.SIGKILL, f"{mode} {nth}: the prune was not killed (exit {code})"


def _killed_prune(tmp_path: Path, runs: int, point: str, nth: int) -> tuple[Path, Path]:
    """``runs`` runs in a new data folder, and a prune of them all killed (SIGKILL) at its ``nth`` ``point`` (see
    helpers/prune_killed.py): ``(the data folder, the one trash entry it left)``."""
    data = tmp_path / "data"
    _several_runs(data, runs)
    result = subprocess.run(
        [sys.executable, str(HELPER), point, str(nth), "prune", str(data), "--older-than", "0s", "--yes"],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL
    (entry,) = (data / ".trash").iterdir()
    return data, entry


def test_restore_drops_what_never_left_and_leaves_files_the_manifest_does_not_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, entry = _killed_prune(tmp_path, 3, "move", 2)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert [i["state"] for i in manifest["items"]] == ["moved", "moving"]  # the second's intent, before its move
    (entry / "notes.txt").write_text("someone's notes")  # not prune's

    code, _, err = cli(capsys, "trash", "restore", entry.name, "--data", data)
    assert code == 1
    assert "restored 1 of 2 item(s)" in err
    assert "1 had not left their place" in err
    assert f"left {entry / 'notes.txt'}: the manifest does not account for it, so it was not touched" in err
    assert (entry / "notes.txt").read_text() == "someone's notes"
    assert not (entry / "manifest.json").exists()
    assert sorted(p.name for p in entry.rglob("*")) == ["notes.txt"]
    assert len(list((data / "checkpoints").rglob("training_summary.json"))) == 3


def test_an_entry_without_a_manifest_is_incomplete_and_never_emptied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, entry = _killed_prune(tmp_path, 2, "inside-write", 1)
    stray = entry / "items" / "0" / "a-file-someone-put-here"
    stray.parent.mkdir(parents=True)
    stray.write_text("keep me")

    (listed,) = trash_ids(capsys, data)
    assert listed["problem"] == "incomplete: no manifest.json (a prune killed before it)"
    code, out, _ = cli(capsys, "trash", "ls", "--data", data)
    assert "incomplete: no manifest.json" in out
    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 1
    assert f"left {entry}: incomplete: no manifest.json" in err
    assert stray.read_text() == "keep me"

    code, _, err = cli(capsys, "trash", "restore", entry.name, "--data", data)
    assert code == 1
    assert f"left {stray}: the manifest does not account for it" in err
    assert stray.read_text() == "keep me"
    assert not any(p.name.startswith(".arc-tmp-") for p in entry.iterdir())  # prune's own half-written manifest


def test_trash_empty_deletes_only_what_the_manifest_accounts_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _several_runs(data, 2)
    code, _, err = cli(capsys, "prune", data, "--older-than", "0s", "--yes")
    assert code == 0, err
    (entry,) = (data / ".trash").iterdir()
    (entry / "items" / "README").write_text("do not delete")

    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 1
    assert f"left {entry / 'items' / 'README'}: the manifest does not account for it" in err
    assert "deleted 0 trash entries" in err
    assert "1 trash entry kept what is named above" in err
    assert sorted(str(p.relative_to(entry)) for p in entry.rglob("*")) == ["items", "items/README"]


# -------------------------------------------------------------------------------------------- planted manifests


def test_a_planted_manifest_moves_nothing_outside_and_the_rest_is_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "a" / "b" / "data"
    failed = make_run(data, "flares", status="failed")
    code, _, err = cli(capsys, "prune", data, "--status", "failed", "--yes")
    assert code == 0, err
    (entry,) = (data / ".trash").iterdir()
    victim = tmp_path / "a" / "b" / "victim"  # <data>/.trash/<entry>/../../../victim
    victim.write_text("victim's file")
    elsewhere = tmp_path / "elsewhere"
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["items"] += [
        {"original": str(data / "checkpoints" / "flares" / "stolen"), "stored": "../../../victim", "what": "run"},
        {"original": str(elsewhere), "stored": "items/0", "what": "run"},
        {"original": f"{data}/checkpoints/../../outside", "stored": "items/0", "what": "run"},
    ]
    (entry / "manifest.json").write_text(json.dumps(manifest))

    code, _, err = cli(capsys, "trash", "restore", entry.name, "--data", data)
    assert code == 1
    assert "refused: 'stored' '../../../victim' must be a plain relative path inside the entry" in err
    assert f"refused: 'original' '{elsewhere}': outside {data}/checkpoints: never moved or deleted" in err
    assert f"refused: 'original' '{data}/checkpoints/../../outside' holds '..'" in err
    assert "restored 1 of 4 item(s)" in err
    assert (failed / "training_summary.json").is_file()  # the real item came back
    assert victim.read_text() == "victim's file"
    assert not elsewhere.exists()
    assert not (data / "checkpoints" / "flares" / "stolen").exists()

    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 1
    assert victim.read_text() == "victim's file"
    assert "refused: 'stored' '../../../victim'" in err


def test_a_planted_stored_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    make_run(data, "flares", status="failed")
    cli(capsys, "prune", data, "--status", "failed", "--yes")
    (entry,) = (data / ".trash").iterdir()
    secret = tmp_path / "their-secret"
    secret.write_text("theirs")
    (entry / "items" / "9").mkdir()
    (entry / "items" / "9" / "x").symlink_to(secret)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["items"].append({"original": str(data / "checkpoints" / "flares" / "x"), "stored": "items/9/x"})
    (entry / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 1
    assert f"refused: 'stored' 'items/9/x': {entry / 'items' / '9' / 'x'} is a symbolic link" in err
    assert secret.read_text() == "theirs"


# ----------------------------------------------------------------------------------- races, links, hostile manifests


def test_a_folder_swapped_for_a_link_between_the_check_and_the_move_moves_nothing_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from arccnet_ckpt import store

    data, victim = tmp_path / "data", tmp_path / "victim"
    ours = [make_run(data, "r/a", minutes=i) for i in range(2)]
    for run in ours:  # another user's runs under the same names, outside the data folder
        make_run(victim, "r/a", minutes=int(run.name[14:16]))
        (victim / "checkpoints" / "r" / "a" / run.name / "VICTIM").write_text("theirs")
    before = tree(victim)
    root = data / "checkpoints" / "r"
    real_move, swapped = store.move_no_follow, []

    def swap_then_move(*args: Any) -> None:
        # After prune checked the path, before the move: r becomes a link to the victim's r (as renameat2 with
        # RENAME_EXCHANGE does it, atomically, in the real race).
        if not swapped:
            root.rename(data / "checkpoints" / "r-moved")
            root.symlink_to(victim / "checkpoints" / "r", target_is_directory=True)
            swapped.append(True)
        real_move(*args)

    monkeypatch.setattr(store, "move_no_follow", swap_then_move)
    code, out, err = cli(capsys, "prune", "--data", data, "--status", "completed", "--yes")
    assert tree(victim) == before
    assert code == 1, err
    for run in ours:
        assert (
            f"left {run}: not moved: {root} is a symbolic link (to {victim / 'checkpoints' / 'r'}): prune and " in out
        )
    assert "moved 0 item(s)" in err
    assert tree(victim) == before
    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert tree(victim) == before
    assert not list((data / ".trash").rglob("VICTIM"))
    assert sorted(p.name for p in (data / "checkpoints" / "r-moved" / "a").iterdir()) == [r.name for r in ours]


def test_a_move_that_fails_is_listed_and_the_others_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    first, second = make_run(data, "flares", status="failed"), make_run(data, "flares", minutes=1, status="failed")
    real_replace = os.replace

    def failing_for_first(source: Any, *args: Any, **kwargs: Any) -> None:
        if str(source).endswith(first.name):  # the rename of the first run fails (as EINVAL does in a race)
            raise OSError(22, "Invalid argument")
        real_replace(source, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_for_first)
    code, out, err = cli(capsys, "prune", "--data", data, "--status", "failed", "--yes")
    assert code == 1, err
    assert f"left {first}: not moved: Invalid argument" in out
    assert "moved 1 item(s)" in err
    assert (first / "training_summary.json").is_file()
    assert not second.exists()
    (entry,) = trash_ids(capsys, data)
    assert [item["original"] for item in entry["items"]] == [str(second)]


def test_restore_and_empty_refuse_an_entry_that_is_a_link_and_touch_nothing_it_points_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, victim = tmp_path / "data", tmp_path / "victim"
    make_run(data, "flares")
    (data / ".trash").mkdir()
    for folder in ("empty-a", "empty-b/inner"):
        (victim / folder).mkdir(parents=True)
    (victim / ".arc-tmp-manifest.json.1234").write_text("their half-written file")
    (victim / "manifest.json").write_text("their manifest")
    entry = data / ".trash" / "20260101T000000Z-aaaaaa"
    entry.symlink_to(victim, target_is_directory=True)
    before = sorted(str(p.relative_to(victim)) for p in victim.rglob("*"))

    code, _, err = cli(capsys, "trash", "restore", entry.name, "--data", data)
    assert code == 1
    assert f"{entry} is a symbolic link (to {victim}): prune and trash never follow one" in err
    code, _, err = cli(capsys, "trash", "empty", "--data", data, "--yes")
    assert code == 1
    assert f"left {entry}: {entry} is a symbolic link" in err
    assert sorted(str(p.relative_to(victim)) for p in victim.rglob("*")) == before
    assert (victim / ".arc-tmp-manifest.json.1234").read_text() == "their half-written file"
    assert entry.is_symlink()


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a FIFO (named pipe), not a regular file"


def _dev_zero(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "a character device, not a regular file"


def _deep(path: Path) -> str:
    path.write_text("[" * 100_000)
    return "nested too deeply to be read as JSON"


def _infinite_bytes(path: Path) -> str:
    items = [{"original": str(path.parents[3] / "checkpoints" / "x"), "stored": "items/0/x", "bytes": float("inf")}]
    path.write_text(json.dumps({"created_at": "2020-01-01T00:00:00+00:00", "items": items}))
    return ""


def _not_a_dict(path: Path) -> str:
    path.write_text('["created_at"]')
    return "list indices must be integers"


@pytest.mark.parametrize("hostile", [_fifo, _dev_zero, _deep, _infinite_bytes, _not_a_dict])
def test_a_hostile_manifest_spoils_only_its_own_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: Any
) -> None:
    data = tmp_path / "data"
    failed = make_run(data, "flares", status="failed")
    make_run(data, "flares", minutes=1)
    bad = data / ".trash" / "20200101T000000Z-bad000"
    bad.mkdir(parents=True)
    reason = hostile(bad / "manifest.json")

    class Hung(BaseException):  # not an Exception: the command line's own error handling must not swallow it
        pass

    def timeout(*_: Any) -> None:
        raise Hung("a trash command hung on a hostile manifest")

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    try:
        code, _, err = cli(capsys, "prune", "--data", data, "--status", "failed", "--yes")
        assert code == 0, err
        good = next(e for e in trash_ids(capsys, data) if e["id"] != bad.name)["id"]
        listed = {e["id"]: e for e in trash_ids(capsys, data)}
        assert listed[good]["problem"] is None
        if reason:
            assert listed[bad.name]["problem"].startswith("incomplete: manifest.json cannot be read (")
            assert reason in listed[bad.name]["problem"]
        code, out, err = cli(capsys, "trash", "ls", "--data", data)
        assert code == 0, err
        assert good in out
        assert bad.name in out

        code, _, err = cli(capsys, "trash", "restore", good, "--data", data)
        assert code == 0, err
        assert (failed / "training_summary.json").is_file()

        code, _, err = cli(capsys, "prune", "--data", data, "--status", "failed", "--yes")
        assert code == 0, err
        cli(capsys, "trash", "empty", "--data", data, "--yes")
        assert not failed.exists()
        assert [e["id"] for e in trash_ids(capsys, data)] == [bad.name]  # the good entry deleted, the bad one kept
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


@pytest.mark.parametrize("prune_through", ["link", "folder"])
def test_restore_works_through_any_path_to_the_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prune_through: str
) -> None:
    data, link = tmp_path / "data", tmp_path / "dlink"
    link.symlink_to(data, target_is_directory=True)
    failed = make_run(data, "flares", status="failed")
    before = tree(data)
    pruned, restored = (link, data) if prune_through == "link" else (data, link)

    code, _, err = cli(capsys, "prune", "--data", pruned, "--status", "failed", "--yes")
    assert code == 0, err
    (entry,) = trash_ids(capsys, restored)
    assert entry["items"][0]["original"] == str(failed.resolve())  # recorded under the resolved data folder
    code, _, err = cli(capsys, "trash", "restore", entry["id"], "--data", restored)
    assert code == 0, err
    assert "restored 1 of 1 item(s)" in err
    assert tree(data) == before


# ---------------------------------------------------------------------------------------------------- root names


@pytest.mark.parametrize(
    ("root_name", "match"),
    [
        ("x/checkpoints/y", r"root_name segment 'checkpoints' is not allowed \(got 'x/checkpoints/y'\).*ambiguous"),
        ("checkpoints", r"segment 'checkpoints' is not allowed"),
        (".hidden", r"root_name segment '\.hidden' starts with '\.' \(got '\.hidden'\): hidden folders are skipped"),
        ("a/.trash", r"segment '\.trash' starts with '\.' \(got 'a/\.trash'\).*'\.trash' is prune's"),
        ("flares/" + "h" * 300, r"is 300 bytes long .*at most 255 bytes"),
    ],
)
def test_root_names_prune_or_ls_would_misread_are_refused_at_construction(root_name: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ArcCheckpointCallback(root_name=root_name)


def test_a_root_folder_too_long_to_hold_a_run_is_refused_at_construction(tmp_path: Path) -> None:
    deep = "/".join(["d" * 200] * 19)  # each segment fine, 3,819 characters in all
    with pytest.raises(ValueError, match=r"bytes long: a path may have at most 4096 bytes, and 320 of them are needed"):
        ArcCheckpointCallback(root_name=deep, data_folder=tmp_path)
    ArcCheckpointCallback(root_name="/".join(["d" * 200] * 15), data_folder=tmp_path)  # fits


def test_prune_finds_the_data_folder_of_an_old_root_with_a_checkpoints_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    old = make_run(data, "x/checkpoints/y", status="failed")  # written before such names were refused
    best = old / "best-epoch02-val_f1-0.900.ckpt"
    make_run(data, "flares", minutes=5, resumed_from=str(best))
    code, out, err = cli(capsys, "prune", data / "checkpoints" / "x", "--status", "failed", "--yes", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["items"] == []
    assert {s["path"]: s["reason"] for s in document["skipped"]}[str(old)].endswith("resumed from")
    code, _, err = cli(capsys, "prune", data / "checkpoints" / "x", "--status", "failed", "--what", "weights", "--yes")
    assert code == 0, err
    assert best.is_file()
    assert (data / ".trash").is_dir()  # the trash of the real data folder
    assert not (data / "checkpoints" / "x" / ".trash").exists()


# ----------------------------------------------------------------------------------------------------- live runs


def _running(data: Path, *, beat: datetime, pid: int | None, host: str | None, **fields: Any) -> Path:
    extra = {"pid": pid, "hostname": host} if pid is not None else {}
    return make_run(
        data, "flares", status="running", updated_at=beat.isoformat(), start_time=beat.isoformat(), **extra, **fields
    )


def test_a_running_run_whose_process_is_alive_here_is_never_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    alive = _running(data, beat=datetime.now(timezone.utc), pid=os.getpid(), host=socket.gethostname())
    time.sleep(1.5)  # silent for longer than --stale-after 1s
    code, out, _ = cli(capsys, "ls", data, "--stale-after", "1s", "--format", "json")
    assert [r["stale"] for r in json.loads(out)["runs"]] == [False]
    code, out, err = cli(capsys, "prune", data, "--status", "running,stale", "--stale-after", "1s", "--yes")
    assert code == 0, err
    assert f"left {alive}: running (not stale" in out
    assert alive.is_dir()


def test_a_running_run_whose_process_is_gone_or_elsewhere_is_stale(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = datetime.now(timezone.utc)
    here = socket.gethostname()
    base = {"status": "running", "model_name": "m", "loss_function": "l", "num_epochs_trained": 1}
    beat = {"start_time": now, "updated_at": now}  # this process started before: it can be the run's
    later, one_second = now + timedelta(hours=1), timedelta(seconds=1)
    assert not is_stale(TrainingSummary(**base, **beat, pid=os.getpid(), hostname=here), later, one_second)
    assert is_stale(TrainingSummary(**base, **beat, pid=dead.pid, hostname=here), later, one_second)
    assert is_stale(TrainingSummary(**base, **beat, pid=os.getpid(), hostname=here + "-other"), later, one_second)
    assert is_stale(TrainingSummary(**base, **beat), later, one_second)  # written before pid and hostname
    # A pid recycled by a process that started after the run's last heartbeat is not the run.
    old = {"start_time": now - timedelta(days=2), "updated_at": now - timedelta(days=2) + timedelta(minutes=1)}
    assert is_stale(TrainingSummary(**base, **old, pid=os.getpid(), hostname=here), now, one_second)


def test_staleness_counts_from_the_latest_fit_start() -> None:
    now = datetime.now(timezone.utc)
    summary = TrainingSummary(
        status="running",
        start_time=now - timedelta(days=2),
        updated_at=now - timedelta(days=2),
        model_name="m",
        loss_function="l",
        resumes=[{"time": now - timedelta(minutes=10), "checkpoint": "last.ckpt"}],  # a requeue, in its first epoch
    )
    assert not is_stale(summary, now, timedelta(hours=1))
    assert is_stale(summary, now + timedelta(hours=2), timedelta(hours=1))


# ---------------------------------------------------------------------------------- references by resolved path


def test_a_run_resuming_from_its_own_last_checkpoint_protects_no_other_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    interrupted = make_run(data, "flares", status="interrupted")
    requeued = make_run(
        data,
        "flares",
        minutes=5,
        resumed_from="last.ckpt",  # its own, relative to its folder
        resumes=[{"time": (T0 + timedelta(minutes=30)).isoformat(), "checkpoint": "last.ckpt"}],
    )
    code, out, _ = cli(capsys, "prune", data, "--older-than", "0s", "--what", "weights", "--format", "json")
    document = json.loads(out)
    moved = {i["path"] for i in document["items"]}
    assert str(interrupted / "last.ckpt") in moved
    assert str(requeued / "last.ckpt") in moved  # its own reference does not keep it from itself
    assert document["skipped"] == []
    code, out, err = cli(capsys, "prune", data, "--status", "interrupted", "--yes", "--format", "json")
    assert code == 0, err
    assert [i["path"] for i in json.loads(out)["items"]] == [str(interrupted)]
    assert not interrupted.exists()


def test_prune_says_tested_or_resumed_from_as_recorded_and_never_matches_by_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    a = make_run(data, "flares")
    b = make_run(data, "flares", minutes=1)
    best = "best-epoch02-val_f1-0.900.ckpt"  # both runs have a checkpoint of this name
    tester = make_run(data, "eval", minutes=2, kind="evaluation", checkpoints={}, tested_checkpoint=str(a / best))
    # A run that tested a checkpoint of the same name somewhere else entirely (relative to where its script ran).
    make_run(data, "other", minutes=3, kind="evaluation", checkpoints={}, tested_checkpoint=f"../{best}")
    resumer = make_run(data, "flares", minutes=4, checkpoints={}, resumed_from=str(b / "last.ckpt"))
    code, out, _ = cli(capsys, "prune", data, "--older-than", "0s", "--what", "weights", "--format", "json")
    document = json.loads(out)
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert skipped == {
        str(a / best): f"the checkpoint that {tester} tested",
        str(b / "last.ckpt"): f"the checkpoint that {resumer} resumed from",
    }
    assert {i["path"] for i in document["items"]} == {str(a / "last.ckpt"), str(b / best)}
    code, out, _ = cli(capsys, "prune", data, "--root", "flares", "--older-than", "0s", "--format", "json")
    skipped = {s["path"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert skipped[str(a)] == f"{best} is the checkpoint that {tester} tested"


def test_prune_protects_a_checkpoint_that_only_a_later_evaluation_tested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run B is tested on its own best checkpoint (its headline), then on run A's best one: A's checkpoint is
    named only by B's second evaluation, and prune must still leave it."""
    from conftest import ScriptedClassifier, TinyData, make_trainer

    data = tmp_path / "data"
    first = ArcCheckpointCallback(root_name="flares/a", data_folder=data)
    make_trainer(tmp_path, [first], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    second = ArcCheckpointCallback(root_name="flares/b", data_folder=data)
    trainer = make_trainer(tmp_path, [second], max_epochs=2)
    model = ScriptedClassifier()
    trainer.fit(model, datamodule=TinyData())
    trainer.test(model, datamodule=TinyData(), ckpt_path="best")
    with pytest.warns(Warning, match="evaluation 2"):
        trainer.test(model, datamodule=TinyData(), ckpt_path=first.best_model_path)
    summary = json.loads((Path(second.run_dir) / "training_summary.json").read_text())
    assert [e["headline"] for e in summary["evaluations"]] == [True, False]
    assert summary["tested_checkpoint"] == os.path.basename(second.best_model_path)

    code, out, err = cli(
        capsys, "prune", data, "--root", "flares/a", "--older-than", "0s", "--what", "weights", "--format", "json"
    )
    assert code == 0, err
    skipped = {s["path"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert skipped == {first.best_model_path: f"the checkpoint that {second.run_dir} tested"}
