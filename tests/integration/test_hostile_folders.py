"""The command line and the loader on data folders of a shared cluster: hostile files, hostile names, half-made runs.

Other people's folders, FIFOs, links to devices, huge or malformed files sit beside good runs. Each must cost only
its own run (listed as unreadable, with the reason), never the command; and no name or string read from a folder
may drive the terminal. The CLI runs as a subprocess with a timeout where a hang is the failure being tested.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from folders import edit_json, make_run
from test_cli import cli

from arccnet_ckpt import ClassificationReport, find_runs, store
from arccnet_ckpt.cli import output
from arccnet_ckpt.runs import MAX_SCAN_DEPTH
from arccnet_ckpt.store import MAX_JSON_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable

T0 = datetime(2025, 2, 12, 14, 30, 45, tzinfo=timezone.utc)
SRC = str(Path(__file__).resolve().parents[2] / "src")
TIMEOUT = 60  # seconds: a hang fails the test instead of the suite

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, sockets and /dev/zero are POSIX")


def run_cli(*args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``arccnet-ckpt ARGS`` in a fresh interpreter (this checkout's code), killed after ``timeout`` seconds."""
    env = {**os.environ, "PYTHONPATH": SRC, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "arccnet_ckpt", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two good runs, and a third one (``bad``) whose files the tests spoil."""
    folder = tmp_path / "data"
    make_run(folder, start=T0, model_name="good1")
    make_run(folder, start=T0 + timedelta(days=1), model_name="good2")
    make_run(folder, start=T0 + timedelta(days=2), model_name="bad")
    return folder


def run_folder(data: Path, model_name: str) -> Path:
    return next(
        p for p in (data / "checkpoints" / "flares" / "binary_classification").iterdir() if model_name in p.name
    )


# ------------------------------------------------------------------------------------------------- hostile files


def _deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _deep_object(path: Path) -> None:
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _sparse(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(1 << 30)  # 1 GiB that takes no disk


def _bad_utf8(path: Path) -> None:
    path.write_bytes(b'{"schema_version": 1, "status": "completed", "model_name": "\xff\xfe"}')


def _folder(path: Path) -> None:
    path.mkdir()


def _socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.getcwd()
    os.chdir(path.parent)  # a relative name: the absolute one may exceed the 108 bytes a socket address holds
    try:
        sock.bind(path.name)
    finally:
        os.chdir(cwd)
        sock.close()  # the socket file stays


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep array": (_deep, "cannot be read: nested too deeply to be read as JSON"),
    "deep object": (_deep_object, "cannot be read: nested too deeply to be read as JSON"),
    "fifo": (_fifo, r"cannot be read: a FIFO \(named pipe\), not a regular file"),
    "link to /dev/zero": (_dev_zero, "cannot be read: a character device, not a regular file"),
    "1 GiB sparse file": (_sparse, r"cannot be read: larger than the 16 MiB limit .*\(it holds 1,073,741,824 bytes\)"),
    "invalid utf-8": (_bad_utf8, "not valid JSON: 'utf-8' codec can't decode byte 0xff"),
    "a folder": (_folder, "cannot be read: a folder, not a regular file"),
    "a socket": (_socket, "cannot be read: a socket, not a regular file"),
}


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, data: Path) -> tuple[Path, str]:
    """``data`` whose third run has a hostile ``training_summary.json``; yields (that run, the expected reason)."""
    make, reason = HOSTILE[request.param]
    bad = run_folder(data, "bad")
    (bad / "training_summary.json").unlink()
    make(bad / "training_summary.json")
    return bad, reason


def _good_names(data: Path) -> list[str]:
    return [run_folder(data, "good1").name, run_folder(data, "good2").name]


def test_ls_lists_the_good_runs_and_names_the_hostile_one_with_its_reason(
    data: Path, hostile: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad, reason = hostile
    result = run_cli("ls", "--data", data)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == _good_names(data)
    assert re.fullmatch(
        rf"arccnet-ckpt: warning: skipped {re.escape(str(bad))}: training_summary\.json: {reason}.*\n", result.stderr
    )
    # In-process from here: the subprocess above proved that nothing hangs.
    code, out, _ = cli(capsys, "ls", "--data", data, "--format", "json")
    document = json.loads(out)
    assert [r["run"] for r in document["runs"]] == _good_names(data)
    assert [u["path"] for u in document["unreadable"]] == [str(bad)]
    assert re.match(f"training_summary\\.json: {reason}", document["unreadable"][0]["problem"])


def test_verify_show_and_find_runs_go_on_past_a_hostile_file(
    data: Path, hostile: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad, reason = hostile
    verified = run_cli("verify", "--data", data)
    assert verified.returncode == 1
    assert re.fullmatch(rf"{re.escape(str(bad))}: training_summary\.json: {reason}.*\n", verified.stdout)
    assert verified.stderr == "arccnet-ckpt: verified 3 run(s): 1 problem(s)\n"

    # In-process from here: the subprocess above proved that nothing hangs.
    code, out, err = cli(capsys, "show", run_folder(data, "good2").name[:19], "--data", data)  # a prefix: a scan
    assert code == 0, err
    assert "model / loss     good2 / weighted_bce\n" in out
    code, out, err = cli(capsys, "show", bad)
    assert code == 1
    assert out == ""
    assert re.fullmatch(rf"arccnet-ckpt show: {re.escape(str(bad))}/training_summary\.json: {reason}.*\n", err)
    prefix = f"find_runs: skipping {bad}: training_summary.json: "
    with pytest.warns(UserWarning, match="find_runs: skipping") as caught:
        runs = find_runs(data)
    assert [r.name for r in runs] == _good_names(data)
    assert len(caught) == 1
    assert re.fullmatch(re.escape(prefix) + reason + ".*", str(caught[0].message))


def test_a_hostile_file_beside_a_good_summary_costs_only_its_own_run(data: Path) -> None:
    """The lazily read files (config, history, minimal log) follow the same rules: ``ls --cols`` and ``verify``."""
    good1, bad = run_folder(data, "good1"), run_folder(data, "bad")
    (bad / "config.json").unlink()
    os.mkfifo(bad / "config.json")
    (good1 / "minimal_logging.json").unlink()
    (good1 / "minimal_logging.json").symlink_to("/dev/zero")
    listed = run_cli("ls", "--data", data, "--cols", "run,config.lr,minimal.best_epoch")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert rows == [[good1.name, "0.001", "-"], [run_folder(data, "good2").name, "0.001", "2"], [bad.name, "-", "2"]]
    assert re.search(
        rf"{re.escape(str(good1))}/minimal_logging\.json: cannot be read: a character device", listed.stderr
    )
    assert re.search(rf"{re.escape(str(bad))}/config\.json: cannot be read: a FIFO", listed.stderr)
    verified = run_cli("verify", "--data", data)
    assert verified.returncode == 1
    assert sorted(verified.stdout.splitlines()) == [
        f"{good1}: minimal_logging.json: cannot be read: a character device, not a regular file: only regular files "
        "are read",
        f"{bad}: config.json: cannot be read: a FIFO (named pipe), not a regular file: only regular files are read",
    ]


def test_the_reader_itself_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """No check before the read that a swapped name could slip past: the read opens non-blocking and looks at what
    it opened."""
    fifo = tmp_path / "training_summary.json"
    os.mkfifo(fifo)
    script = textwrap.dedent(
        f"""
        from arccnet_ckpt.store.read import _read_local
        try:
            _read_local({str(fifo)!r})
        except OSError as e:
            print(e)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.stdout == "a FIFO (named pipe), not a regular file: only regular files are read\n", result.stderr


def test_a_symlink_to_a_regular_file_is_read(data: Path) -> None:
    """Shared folders are full of links: one that leads to a regular JSON file is a file like any other."""
    bad = run_folder(data, "bad")
    real = data / "elsewhere.json"
    (bad / "training_summary.json").rename(real)
    (bad / "training_summary.json").symlink_to(real)
    runs = find_runs(data)
    assert [r.model_name for r in runs] == ["good1", "good2", "bad"]


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_not(data: Path) -> None:
    bad = run_folder(data, "bad")
    summary = bad / "training_summary.json"
    text = summary.read_text()
    summary.write_text(text + " " * (MAX_JSON_BYTES - len(text.encode())))
    assert [r.model_name for r in find_runs(data)] == ["good1", "good2", "bad"]
    with summary.open("a") as f:
        f.write(" ")
    with pytest.warns(UserWarning, match=r"larger than the 16 MiB limit for a run's JSON file \(it holds 16,777,217"):
        assert [r.model_name for r in find_runs(data)] == ["good1", "good2"]


# ------------------------------------------------------------------------------------------------ symbolic links


def test_symlink_loops_neither_hang_nor_repeat_a_run(data: Path) -> None:
    """``loop -> .`` and ``up -> ../..`` beside three runs: every command finishes and lists each run once."""
    root = data / "checkpoints" / "flares" / "binary_classification"
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "up").symlink_to("../..", target_is_directory=True)
    runs = sorted(str(p) for p in root.iterdir() if not p.is_symlink())
    listed = run_cli("ls", "--data", data, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["path"] for r in json.loads(listed.stdout)["runs"]) == runs
    verified = run_cli("verify", "--data", data)
    assert verified.returncode == 0, verified.stdout
    assert verified.stderr == "arccnet-ckpt: verified 3 run(s): 0 problem(s)\n"
    pruned = run_cli("prune", "--data", data, "--older-than", "0s", "--format", "json")
    assert pruned.returncode == 0, pruned.stderr
    assert sorted(i["path"] for i in json.loads(pruned.stdout)["items"]) == runs


def test_a_run_reached_through_a_link_too_is_listed_once_under_its_own_path(data: Path) -> None:
    """A link to a run folder, and a link to the root folder above it, do not list the runs again; whichever name
    the folder listing gives first, the run keeps its own path (the one ``prune`` may move)."""
    checkpoints = data / "checkpoints"
    good1 = run_folder(data, "good1")
    (checkpoints / "a-mirror").symlink_to(checkpoints / "flares", target_is_directory=True)
    (checkpoints / "flares" / "a-alias").mkdir()
    (checkpoints / "flares" / "a-alias" / good1.name).symlink_to(good1, target_is_directory=True)
    runs = find_runs(data)
    assert [r.path for r in runs] == [str(run_folder(data, name)) for name in ("good1", "good2", "bad")]


def test_the_scan_searches_at_most_max_scan_depth_folders_down(tmp_path: Path) -> None:
    deep = tmp_path / "data"
    make_run(deep, "/".join(["d"] * (MAX_SCAN_DEPTH - 1)), model_name="deepest_found")
    make_run(deep, "/".join(["d"] * MAX_SCAN_DEPTH), model_name="too_deep")
    assert [r.model_name for r in find_runs(deep)] == ["deepest_found"]


# -------------------------------------------------------------------------------------------------- the terminal

TITLE = "evil\x1b]0;pwned\x07"
FORGED = "x\n2099-01-01_00-00-00_forged  completed  2099-01-01 00:00  99"
CLEAR = "res\x1b[2Jnet\u202e"
LINK = "test_\x1b]8;;https://example.invalid\x07f1"
# Every byte a terminal acts on, except the newline that ends each line.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def hostile_names(data: Path) -> dict[str, Path]:
    """Run folders named to retitle the terminal and to forge a table row; a summary whose strings clear it."""
    parent = run_folder(data, "good1").parent
    title = run_folder(data, "good2").rename(parent / TITLE)
    forged = run_folder(data, "bad").rename(parent / FORGED)
    clear = run_folder(data, "good1")
    edit_json(clear / "training_summary.json", model_name=CLEAR, test_results={LINK: 0.5}, monitor="val_\x1b[31mf1")
    edit_json(clear / "classification_report.json", test_metrics={LINK: 0.5})
    (title / "best-epoch02-val_f1-0.800.ckpt").unlink()  # a problem for verify to print beside the hostile name
    (forged / ".arc-tmp-history.json.0123456789ab").write_text("{")
    return {"title": title, "forged": forged, "clear": clear}


def _assert_no_raw_control(*texts: str) -> None:
    for text in texts:
        assert RAW_CONTROL.search(text) is None, repr(text)


def test_ls_show_and_verify_escape_control_characters(
    hostile_names: dict[str, Path], data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "ls", data, "--cols", "run,model_name,status,best,test")
    assert code == 0, err
    _assert_no_raw_control(out, err)
    lines = out.splitlines()
    assert len(lines) == 4  # a header and three runs: the newline forged no row
    assert lines[1].split()[:2] == ["2025-02-12_14-30-45_good1_weighted_bce", "res\\x1b[2Jnet\\u202e"]
    assert "val_\\x1b[31mf1 0.8 @2" in lines[1]
    assert "test_\\x1b]8;;https://example.invalid\\x07f1 0.5" in lines[1]
    assert lines[2].startswith("evil\\x1b]0;pwned\\x07 ")
    assert lines[3].startswith("x\\n2099-01-01_00-00-00_forged  completed  2099-01-01 00:00  99 ")

    for run in hostile_names.values():
        code, out, err = cli(capsys, "show", run)
        assert code == 0, err
        _assert_no_raw_control(out, err)
        assert f"run              flares/binary_classification/{output.escape(run.name)}\n" in out
    code, out, err = cli(capsys, "show", hostile_names["clear"])
    assert "model / loss     res\\x1b[2Jnet\\u202e / weighted_bce\n" in out
    assert "test_\\x1b]8;;https://example.invalid\\x07f1" in out

    code, out, err = cli(capsys, "verify", data)
    assert code == 1
    _assert_no_raw_control(out, err)
    assert sorted(out.splitlines()) == sorted(
        [
            f"{output.escape(hostile_names['title'])}: best_model_path 'best-epoch02-val_f1-0.800.ckpt' does not exist",
            f"{output.escape(hostile_names['forged'])}: leftover temporary file .arc-tmp-history.json.0123456789ab (an "
            "interrupted write)",
        ]
    )


def test_messages_on_stderr_are_escaped(
    hostile_names: dict[str, Path], data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (hostile_names["title"] / "training_summary.json").write_text('{"schema_version": 1, "status": "\x1b[2J"}')
    code, out, err = cli(capsys, "ls", data)
    assert code == 0
    _assert_no_raw_control(out, err)
    assert "warning: skipped " + output.escape(hostile_names["title"]) in err
    code, out, err = cli(capsys, "show", "no-such-run\x1b]0;x\x07", "--data", data)
    assert code == 1
    _assert_no_raw_control(err)
    assert "no-such-run\\x1b]0;x\\x07" in err


def test_json_and_csv_keep_the_exact_values(
    hostile_names: dict[str, Path], data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "ls", data, "--format", "json")
    runs = json.loads(out)["runs"]
    assert [r["run"] for r in runs] == ["2025-02-12_14-30-45_good1_weighted_bce", TITLE, FORGED]
    assert runs[0]["model_name"] == CLEAR
    assert runs[0]["test_results"] == {LINK: 0.5}
    code, out, _ = cli(capsys, "ls", data, "--format", "csv", "--cols", "run,model_name")
    assert list(csv.reader(io.StringIO(out)))[1:] == [
        ["2025-02-12_14-30-45_good1_weighted_bce", CLEAR],
        [TITLE, "good2"],
        [FORGED, "bad"],
    ]
    code, out, _ = cli(capsys, "show", hostile_names["clear"], "--format", "json")
    assert json.loads(out)["run"]["model_name"] == CLEAR


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x00\x7f\x9b2J", "\\x00\\x7f\\x9b2J"),  # NUL, DEL, and the one-byte CSI of C1
        ("abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069"),
        ("line\u2028sep", "line\\u2028sep"),
        ("Ångström 日本 café -_/.:", "Ångström 日本 café -_/.:"),
    ],
)
def test_escape_writes_control_and_bidi_characters_as_escapes(text: str, shown: str) -> None:
    assert output.escape(text) == shown
    assert output.escape(shown) == shown  # escaping twice changes nothing


# ---------------------------------------------------------------------------------------------- half-made runs


def test_a_folder_holding_only_an_interrupted_first_write_is_an_incomplete_run(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed at its start, while ``config.json`` was being written: the folder holds only the temporary file."""
    killed = run_folder(data, "good1").parent / "2025-02-20_09-00-00_resnet18_focal"
    killed.mkdir()
    (killed / ".arc-tmp-config.json.0123456789ab").write_text('{"schema_version": 2, "config": {"lr"')
    code, out, err = cli(capsys, "ls", data)
    assert code == 0, err
    assert out.splitlines()[-1].split() == [killed.name, "incomplete", "2025-02-20", "09:00", "-", "-", "-"]
    code, out, err = cli(capsys, "ls", data, "--status", "incomplete")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [killed.name]
    code, out, err = cli(capsys, "verify", data)
    assert code == 1
    assert out == f"{killed}: leftover temporary file .arc-tmp-config.json.0123456789ab (an interrupted write)\n"
    assert "verified 4 run(s): 1 problem(s)" in err
    code, out, err = cli(capsys, "show", killed.name, "--data", data)
    assert code == 1
    assert "an incomplete run: it holds only the temporary file of an interrupted first write" in err


def _kill_between_report_and_summary(run: Path, test_metrics: dict[str, float]) -> None:
    """What a test end killed after ``classification_report.json`` and before the summary leaves."""
    report = ClassificationReport.model_validate_json((run / "classification_report.json").read_text())
    report.test_metrics = test_metrics
    store.write_artifact(run, report)


def test_verify_reports_a_report_and_a_summary_that_disagree(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_folder(data, "good1")  # the first test of a run: its summary has no test results yet
    edit_json(first / "training_summary.json", test_results={})
    retested = run_folder(data, "good2")  # a second test: the summary still has the first one's numbers
    _kill_between_report_and_summary(retested, {"test_f1": 0.91, "test_loss": 0.15})
    code, out, err = cli(capsys, "verify", data)
    assert code == 1
    assert sorted(out.splitlines()) == [
        f"{first}: classification_report.json and training_summary.json disagree: the report holds test metrics "
        "(test_f1, test_loss) and the summary's test_results is empty (killed between the two writes at the end of a "
        "test?)",
        f"{retested}: classification_report.json and training_summary.json disagree on test_f1 0.91 != 0.85 (report "
        "!= summary test_results): the summary is from another test, or a run was killed between the two writes at "
        "the end of a test",
    ]
    assert "verified 3 run(s): 2 problem(s)" in err


def test_show_lists_no_claim_marker_on_an_object_store(capsys: pytest.CaptureFixture[str]) -> None:
    """A remote run folder is claimed by a hidden ``.arc-run-claim`` object: the package's, not a file of the run."""
    import uuid

    import fsspec

    base = f"memory://arc-hostile-{uuid.uuid4().hex[:8]}/data"
    try:
        parent = f"{base}/checkpoints/flares/binary_classification"
        folder = store.make_unique_dir(parent, "2025-02-12_14-30-45_good1_weighted_bce")
        assert store.exists(f"{folder}/{store.CLAIM_MARKER}")
        assert make_run(base, start=T0, model_name="good1") == folder
        code, out, err = cli(capsys, "show", folder)
        assert code == 0, err
        files = out.split("\nfiles\n")[1].split()
        assert store.CLAIM_MARKER not in files
        assert "training_summary.json" in files
        assert "best-epoch02-val_f1-0.800.ckpt" in files
        code, out, err = cli(capsys, "show", folder, "--format", "json")
        assert store.CLAIM_MARKER not in [f["name"] for f in json.loads(out)["files"]]
    finally:
        fs, path = fsspec.core.url_to_fs(base)
        fs.rm(path.rsplit("/", 1)[0], recursive=True)
