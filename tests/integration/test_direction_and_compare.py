"""One metric direction for every API, git found from the script, and what a comparison of runs shows and refuses.

The runs are made by real fits shaped like the users' scripts (a monitor with its mode, EarlyStopping-free training,
``trainer.test(ckpt_path="best")``), with scripted validation and test numbers so that the best run is known.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json
from test_cli import cli

from arccnet_ckpt import ArcCheckpointCallback, best_run, load_run
from arccnet_ckpt.capture.environment import git_info
from arccnet_ckpt.report.html import render_html
from arccnet_ckpt.runs.direction import metric_mode
from arccnet_ckpt.runs.query import TRAINER_DEFAULTS

CLI_SCRIPT = Path(__file__).parents[1] / "helpers" / "cli_script.py"


class Scored(ScriptedClassifier):
    """The conftest classifier, with its test metrics scripted too (``test_values``)."""

    test_values: dict[str, float] = {}

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        x, y = batch
        for name, value in self.test_values.items():
            self.log(name, float(value))
        return {"preds": self.layer(x), "target": y}


def _fit(
    tmp: Path,
    data: Path,
    root: str,
    model_name: str,
    *,
    monitor: str,
    mode: str,
    val_scores: tuple[float, ...],
    tests: dict[str, float],
    num_classes: int = 3,
    class_names: list[str] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    cb = ArcCheckpointCallback(
        root_name=root,
        data_folder=data,
        monitor=monitor,
        mode=mode,
        model_name=model_name,
        loss_function="focal",
        class_names=class_names,
        config=config if config is not None else {"MODEL": model_name},
    )
    model = Scored(val_scores=val_scores, monitor_name=monitor, num_classes=num_classes)
    model.test_values = tests
    trainer = make_trainer(tmp, [cb], max_epochs=len(val_scores))
    trainer.fit(model, datamodule=TinyData(num_classes=num_classes))
    trainer.test(model, datamodule=TinyData(num_classes=num_classes), ckpt_path="best")
    return Path(cb.run_dir)


@dataclass
class Runs:
    data: Path
    errors: list[Path]  # monitor val_error, mode min; best values 0.3, 0.2, 0.45
    ranks: list[Path]  # monitor val_rank, mode min (the name rule alone would say max)
    binary: Path  # two named classes
    twelve: Path  # twelve classes


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tmp = tmp_path_factory.mktemp("direction")
    data = tmp / "data"
    errors = [
        _fit(tmp, data, "flares/error", name, monitor="val_error", mode="min", val_scores=scores, tests=tests)
        for name, scores, tests in (
            ("alpha", (0.5, 0.3, 0.4), {"test_error": 0.31, "test_loss": 0.9}),
            ("beta", (0.6, 0.2), {"test_error": 0.22, "test_loss": 0.4}),
            ("gamma", (0.7, 0.45), {"test_error": 0.47, "test_loss": 0.7}),
        )
    ]
    ranks = [
        _fit(tmp, data, "flares/rank", name, monitor="val_rank", mode="min", val_scores=scores, tests=tests)
        for name, scores, tests in (
            ("delta", (9.0, 4.0), {"test_rank": 5.0}),
            ("epsilon", (8.0, 2.0), {"test_rank": 3.0}),
        )
    ]
    binary = _fit(
        tmp,
        data,
        "flares/binary",
        "resnet",
        monitor="val_f1",
        mode="max",
        val_scores=(0.6, 0.9),
        tests={"test_f1": 0.92},
        num_classes=2,
        class_names=["quiet", "flare"],
    )
    twelve = _fit(
        tmp,
        data,
        "flares/hale",
        "effnet",
        monitor="val_f1",
        mode="max",
        val_scores=(0.3, 0.4),
        tests={"test_f1": 0.41},
        num_classes=12,
    )
    return Runs(data, errors, ranks, binary, twelve)


# ----------------------------------------------------------------------------------------------- one direction


def test_best_run_by_test_loss_returns_the_lowest_loss_run(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    losses = {run: read_json(run / "training_summary.json")["test_results"]["test_loss"] for run in runs.errors}
    lowest = min(losses, key=losses.__getitem__)
    assert best_run(runs.data, "flares/error", metric="test_loss").path == str(lowest)
    # The command line agrees, and an explicit mode still wins.
    assert cli(capsys, "best", "flares/error", "--data", runs.data, "--by", "test_loss")[1].strip() == str(lowest)
    highest = max(losses, key=losses.__getitem__)
    assert best_run(runs.data, "flares/error", metric="test_loss", mode="max").path == str(highest)
    with pytest.raises(ValueError, match=r"mode must be 'min' or 'max', got 'lowest'"):
        best_run(runs.data, "flares/error", metric="test_loss", mode="lowest")


def test_a_legacy_run_s_best_checkpoint_is_picked_by_the_same_direction_rule(tmp_path: Path) -> None:
    """An old manual run records no monitor or mode: its ``best-*.ckpt`` names carry ``val_error``, which is minimised
    as everywhere else (the legacy pick once maximised it)."""
    legacy = Path(__file__).parents[1] / "fixtures" / "legacy-runs" / "checkpoints" / "flares" / "binary_classification"
    run_dir = tmp_path / "checkpoints" / "flares" / "binary_classification" / "2025-02-12_14-30-45_resnet18_focal"
    shutil.copytree(next(legacy.iterdir()), run_dir)
    for file in ("training_summary.json", "minimal_logging.json"):  # no best_<monitor> key: the monitor is unknown
        text = (run_dir / file).read_text()
        (run_dir / file).write_text("\n".join(line for line in text.splitlines() if '"best_val_f1"' not in line))
    for name in (
        "best-epoch03-val_error-0.410.ckpt",
        "best-epoch07-val_error-0.205.ckpt",
        "best-epoch09-val_error-0.390.ckpt",
    ):
        (run_dir / name).write_bytes(b"not a real checkpoint")
    run = load_run(run_dir)
    assert Path(run.best_checkpoint or "").name == "best-epoch07-val_error-0.205.ckpt"
    assert any("chose best-epoch07-val_error-0.205.ckpt" in note for note in run.notes)


def test_a_run_monitoring_val_error_in_min_mode_is_minimised_everywhere(
    runs: Runs, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    alpha, beta, gamma = runs.errors  # best val_error 0.3, 0.2, 0.45; test_error 0.31, 0.22, 0.47
    data = ("--data", runs.data)
    # best_run, for the monitored metric under each of its names
    for metric in ("best_val_error", "test_error", "best_metric_value"):
        assert best_run(runs.data, "flares/error", metric=metric).path == str(beta), metric
    # arccnet-ckpt best: by each name, and without --by (each run's monitor, in its recorded mode)
    for by in (["--by", "best_val_error"], ["--by", "test_error"], ["--by", "history.best.val_error"], []):
        code, out, err = cli(capsys, "best", "flares/error", *data, *by, "--print", "json")
        assert code == 0, err
        document = json.loads(out)
        assert (document["run"]["path"], document["mode"]) == (str(beta), "min"), by
    # history.best.X is the lowest value of the curve
    code, out, _ = cli(capsys, "ls", "flares/error", *data, "--cols", "run,history.best.val_error", "--format", "csv")
    assert [float(row.split(",")[1]) for row in out.splitlines()[1:]] == pytest.approx([0.3, 0.2, 0.45])
    # diff: a lower error is better
    code, out, _ = cli(capsys, "diff", alpha, beta, "--format", "json")
    judged = {m["name"]: m["better"] for m in json.loads(out)["metrics"]}
    assert judged["best_val_error"] is True
    assert judged["test_error"] is True
    # prune --keep-best keeps the lowest
    copy = tmp_path / "data"
    shutil.copytree(runs.data, copy)
    code, out, _ = cli(
        capsys, "prune", copy, "--root", "flares/error", "--keep-best", "1", "--by", "test_error", "--format", "json"
    )
    assert code == 0
    assert {Path(item["run"]).name for item in json.loads(out)["items"]} == {alpha.name, gamma.name}
    # the report colours a lower error green
    page = render_html([load_run(alpha), load_run(beta)])
    row = page[page.index("Best val_error") :].split("</tr>")[0]
    assert 'class="delta better"' in row


def test_the_monitors_recorded_mode_wins_over_the_name_rule(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    # A rank is maximised by the name rule; the runs monitored val_rank in min mode, so test_rank is minimised too.
    assert metric_mode("test_rank") == "max"
    delta, epsilon = runs.ranks
    assert best_run(runs.data, "flares/rank", metric="test_rank").path == str(epsilon)
    code, out, _ = cli(capsys, "best", "flares/rank", "--data", runs.data, "--by", "test_rank")
    assert out.strip() == str(epsilon)
    code, out, _ = cli(capsys, "diff", delta, epsilon, "--format", "json")
    assert {m["name"]: m["better"] for m in json.loads(out)["metrics"]}["test_rank"] is True


def test_the_name_rule() -> None:
    for name in ("val_loss", "test_error_rate", "brier", "val_ece", "test_fpr", "duration_seconds", "val/nll"):
        assert metric_mode(name) == "min", name
    for name in ("test_f1", "val_accuracy", "test_auroc", "test_precision"):
        assert metric_mode(name) == "max", name
    # The monitor's mode reaches every name of its metric, and only those.
    assert metric_mode("test_loss", "val_loss", "max") == "max"
    assert metric_mode("best_val_f1", "val_f1", "min") == "min"
    assert metric_mode("test_f1/dataloader_idx_1", "val_f1", "min") == "min"
    assert metric_mode("test_loss", "val_f1", "max") == "min"
    assert metric_mode("test_loss", "val_loss", "max", explicit="min") == "min"
    assert metric_mode("best_metric_value", "val_error", "min") == "min"
    assert metric_mode("history.best.val_rank", "val_rank", "min") == "min"


# --------------------------------------------------------------------------------------------------------- git

_GIT = ("git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "init.defaultBranch=main")

_TRAIN_SCRIPT = """
import sys

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from arccnet_ckpt import ArcCheckpointCallback


class Net(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        self.log("val_f1", 0.5)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


loader = DataLoader(TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,))), batch_size=4)
cb = ArcCheckpointCallback(root_name="flares/git", data_folder=sys.argv[1], model_name="net")
trainer = pl.Trainer(
    max_epochs=1, callbacks=[cb], logger=False, enable_progress_bar=False, enable_model_summary=False,
    accelerator="cpu", devices=1,
)
trainer.fit(Net(), loader, loader)
print("RUN_DIR", cb.run_dir)
"""


def _git_repo(folder: Path, files: dict[str, str]) -> str:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    subprocess.run([*_GIT, "init", "-q", str(folder)], check=True)
    subprocess.run([*_GIT, "-C", str(folder), "add", "."], check=True)
    subprocess.run([*_GIT, "-C", str(folder), "commit", "-qm", "train"], check=True)
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_is_found_from_the_script_when_the_job_starts_in_a_scratch_folder(tmp_path: Path) -> None:
    repo = tmp_path / "flares"
    commit = _git_repo(repo, {"train.py": textwrap.dedent(_TRAIN_SCRIPT)})
    scratch = tmp_path / "scratch"  # cd $SCRATCH && python ~/flares/train.py
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, str(repo / "train.py"), str(scratch / "data")],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)},  # no repository above the scratch folder
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = Path(done.stdout.split("RUN_DIR", 1)[1].strip())
    git = read_json(run_dir / "config.json")["_arccnet"]["git"]
    assert git["commit"] == commit
    assert git["source"] == "script"
    assert Path(git["root"]) == repo.resolve()
    assert git["dirty"] is False


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_falls_back_to_the_modules_file_then_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    package = tmp_path / "package"
    commit = _git_repo(package, {"flare_model.py": "class FlareNet:\n    pass\n"})
    work = tmp_path / "work"
    work_commit = _git_repo(work, {"notes.txt": "x\n"})
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(package))
    import flare_model

    # A notebook or `python -c`: __main__ has no file; the module's class is in the package's repository.
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    found = git_info(flare_model.FlareNet())
    assert (found["commit"], found["source"]) == (commit, "module")
    found = git_info(None)
    assert (found["commit"], found["source"]) == (work_commit, "cwd")
    monkeypatch.chdir(tmp_path)
    assert git_info(None) is None


# ------------------------------------------------------------------------------------------------- comparisons


def test_a_long_setting_is_cut_in_the_table_and_whole_in_json_and_on_hover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    made = []
    for patience, lr in ((3, 0.1), (5, 0.01)):
        callbacks = [
            {"class_path": "arccnet_ckpt.ArcCheckpointCallback", "init_args": {"root_name": "flares/multiclass"}},
            {
                "class_path": "lightning.pytorch.callbacks.EarlyStopping",
                "init_args": {"monitor": "val_f1", "mode": "max", "patience": patience},
            },
        ]
        config: dict[str, Any] = {"trainer": {"callbacks": callbacks}, "model": {"lr": lr}}
        if patience == 3:
            config["ckpt_path"] = None  # null in one run, absent in the other: no difference
        made.append(
            _fit(
                tmp_path, data, "flares/multiclass", f"m{patience}", monitor="val_f1", mode="max",
                val_scores=(0.5,), tests={"test_f1": 0.5}, config=config,
            )
        )  # fmt: skip
    a, b = made
    code, out, _ = cli(capsys, "diff", a, b)
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith("trainer.callbacks"))
    assert "\u2026" in line
    assert len(line) < 2 * 60 + 30
    assert "ckpt_path" not in out
    code, out, _ = cli(capsys, "diff", a, b, "--format", "json")
    rows = {row["key"]: row for row in json.loads(out)["config"]}
    assert rows["trainer.callbacks"]["b"][1]["init_args"]["patience"] == 5  # whole
    assert "ckpt_path" not in rows
    page = render_html([load_run(a), load_run(b)])
    whole = json.dumps(rows["trainer.callbacks"]["b"], ensure_ascii=False)
    assert f'title="{_html_text(whole)}"' in page
    assert "ckpt_path" not in page


def _html_text(text: str) -> str:
    import html

    return html.escape(text, quote=True).replace("//", "/&#47;")


def test_a_lightning_cli_runs_trainer_defaults_come_after_what_was_chosen(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, str(CLI_SCRIPT), "--model.lr", "0.01", "--data_folder", str(data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cli_run = Path(done.stdout.split("RUN_DIR", 1)[1].strip())
    # The same model trained from a plain script with a config dict.
    plain = _fit(
        tmp_path, data, "cutouts/hale", "tinynet", monitor="val_f1", mode="max", val_scores=(0.5,),
        tests={"test_f1": 0.5}, config={"model": {"lr": 0.1, "backbone": "tinynet"}, "data_folder": str(data)},
    )  # fmt: skip
    code, out, err = cli(capsys, "diff", plain, cli_run)
    assert code == 0, err
    chosen, _, defaults = out.partition("\nconfig at Lightning's defaults\n")
    assert "model.lr" in chosen
    assert "trainer.limit_train_batches" in chosen  # the script set it
    assert "trainer.accelerator" in chosen  # the plain run's Trainer(accelerator="cpu"), the CLI's "auto"
    assert "trainer.fast_dev_run" in defaults
    assert "trainer.fast_dev_run" not in chosen
    assert "trainer.inference_mode" in defaults
    assert "trainer.callbacks" not in out  # null in the CLI run, absent in the other
    # The HTML comparison folds them away too.
    page = render_html([load_run(plain), load_run(cli_run)])
    folded = page[page.index("Settings left unset or at Lightning") :]
    assert "trainer.fast_dev_run" in folded
    assert page.index("model.lr") < page.index("trainer.fast_dev_run")


def _fit_hparams(data: Path, tmp: Path, lr: float, hidden: int, max_epochs: int) -> Path:
    import lightning.pytorch as pl
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    class Net(pl.LightningModule):
        def __init__(self, lr: float = 0.01, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layers = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return F.cross_entropy(self.layers(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", F.cross_entropy(self.layers(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    loader = DataLoader(TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,))), batch_size=8)
    cb = ArcCheckpointCallback(root_name="hp", data_folder=data, monitor="val_loss", mode="min")
    make_trainer(tmp, [cb], max_epochs=max_epochs).fit(Net(lr=lr, hidden=hidden), loader, loader)
    return Path(cb.run_dir)


def test_diff_and_the_html_comparison_list_hparams_and_trainer_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    a = _fit_hparams(data, tmp_path, 0.01, 8, 2)
    b = _fit_hparams(data, tmp_path, 0.1, 32, 3)
    code, out, err = cli(capsys, "diff", a, b)
    assert code == 0, err
    chosen = out.partition("\nconfig at Lightning's defaults\n")[0]
    rows = {line.split()[0]: line.split()[1:] for line in chosen.splitlines() if line.strip()}
    assert rows["hparams.lr"] == ["0.01", "0.1"]
    assert rows["hparams.hidden"] == ["8", "32"]
    assert rows["trainer.max_epochs"] == ["2", "3"]
    assert "trainer.accelerator" not in out  # the same in both runs
    code, out, err = cli(capsys, "diff", a, b, "--format", "json")
    listed = {row["key"]: (row["a"], row["b"], row["at_default"]) for row in json.loads(out)["config"]}
    assert listed["hparams.lr"] == (0.01, 0.1, False)
    assert listed["hparams.hidden"] == (8, 32, False)
    assert listed["trainer.max_epochs"] == (2, 3, False)
    page = render_html([load_run(a), load_run(b)])
    config = page[page.index("Configuration differences") :]
    assert "The settings are the same in every run" not in config
    for key, va, vb in (("hparams.lr", "0.01", "0.1"), ("hparams.hidden", "8", "32"), ("trainer.max_epochs", 2, 3)):
        assert f"<tr><td>{key}</td><td>{va}</td><td>{vb}</td></tr>" in config
    assert config.count("<td>hparams.lr</td>") == 1  # not again under the captured settings


def test_trainer_defaults_are_lightnings() -> None:
    import inspect

    from lightning.pytorch import Trainer

    signature = inspect.signature(Trainer.__init__).parameters
    actual = {name: p.default for name, p in signature.items() if p.default not in (None, inspect.Parameter.empty)}
    assert {k: v for k, v in TRAINER_DEFAULTS.items() if k in signature} == actual


def test_runs_of_different_tasks_are_compared_but_not_ranked(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "diff", runs.binary, runs.twelve, "--format", "json")
    assert code == 0
    assert "warning: the runs differ in task (number of classes: 2, 12)" in err
    document = json.loads(out)
    assert document["task_differences"] == ["number of classes: 2, 12"]
    assert {m["name"]: m["better"] for m in document["metrics"]}["test_f1"] is None
    assert all(c["better"] is None for c in document["per_class_f1"])
    page = tmp_path / "compare.html"
    code, out, err = cli(capsys, "report", runs.binary, runs.twelve, "-o", page)
    assert code == 0
    assert "warning: the runs differ in task (number of classes: 2, 12)" in err
    text = page.read_text()
    assert "differ in task" in text
    assert 'class="delta better"' not in text
    assert 'class="delta worse"' not in text
    # best without a root: not ranked; with one, ranked with a warning
    code, out, err = cli(capsys, "best", "--data", runs.data, "--by", "test_f1")
    assert (code, out) == (1, "")
    assert "differ in task (number of classes:" in err
    assert "give a ROOT" in err
    code, out, err = cli(capsys, "best", "flares", "--data", runs.data, "--by", "test_f1")
    assert (code, out.strip()) == (0, str(runs.binary))
    assert "warning: the runs differ in task (number of classes: 2, 12" in err


# ------------------------------------------------------------------------------------------------ command line


def test_a_where_key_no_run_records_warns(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "ls", runs.data, "--where", "tset_error<0.5")
    assert code == 1
    assert "warning: --where tset_error: no run records this key" in err
    code, out, err = cli(capsys, "ls", runs.data, "--where", "test_error<0.3")
    assert code == 0
    assert "no run records" not in err


@pytest.mark.parametrize("where", ["test_f1>>0.5", "test_f1=>0.5", "test_f1===0.5"])
def test_a_doubled_operator_is_a_usage_error(runs: Runs, capsys: pytest.CaptureFixture[str], where: str) -> None:
    code, out, err = cli(capsys, "ls", runs.data, "--where", where)
    assert (code, out) == (2, "")
    assert "is not an operator; OP is one of = == != > >= < <= ~" in err


def test_best_without_by_ranks_by_each_runs_monitor(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "best", "flares/error", "--data", runs.data, "--print", "json")
    assert code == 0, err
    document = json.loads(out)
    assert (document["by"], document["mode"], document["value"]) == ("val_error", "min", pytest.approx(0.2))
    # Runs that monitored different metrics have no common best value.
    code, out, err = cli(capsys, "best", "flares", "--data", runs.data)
    assert (code, out) == (1, "")
    assert "monitor: " in err
    assert "pass --by KEY" in err


def test_a_corrupt_history_still_shows_and_reports_the_run(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / runs.errors[0].name
    shutil.copytree(runs.errors[0], run)
    (run / "history.json").write_text('{"schema_version": 1, "entries": [{"epoch": ')
    code, out, err = cli(capsys, "show", run)
    assert code == 0, err
    assert "val_error = 0.3" in out
    assert "history.json" in err
    assert "showing what can be read" in err
    code, out, err = cli(capsys, "report", run, "-o", tmp_path / "page.html")
    assert code == 0, err
    assert "history.json" in err
    assert "history.json" in (tmp_path / "page.html").read_text()
    # A corrupt summary is still an error.
    (run / "training_summary.json").write_text("{")
    code, out, err = cli(capsys, "show", run)
    assert code == 1
    assert "training_summary.json" in err
