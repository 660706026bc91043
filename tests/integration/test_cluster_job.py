"""The cluster job in ``config.json`` (SLURM, TorchElastic, visible GPUs) and a requeue's restart count in the resume
entry, as a SLURM requeue of a real script records them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ScriptedClassifier, TinyData, make_trainer, read_json

from arccnet_ckpt import ArcCheckpointCallback
from arccnet_ckpt.capture.environment import cluster_job, restart_count

SLURM = {
    "SLURM_JOB_ID": "4242",
    "SLURM_ARRAY_JOB_ID": "4200",
    "SLURM_ARRAY_TASK_ID": "7",
    "SLURM_JOB_NAME": "flares",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURM_JOB_NODELIST": "gpu[01-02]",
    "SLURM_RESTART_COUNT": "0",
}


def test_a_slurm_job_that_is_requeued(tmp_path: Path, data_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    cb = ArcCheckpointCallback(
        root_name="flares/slurm", data_folder=data_folder, model_name="m", loss_function="ce", save_last=True
    )
    make_trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedClassifier(), datamodule=TinyData())
    run_dir = Path(cb.run_dir)
    environment = read_json(run_dir / "config.json")["_arccnet"]["environment"]
    assert environment["job"] == {
        "slurm": {
            "job_id": 4242,
            "array_job_id": 4200,
            "array_task_id": 7,
            "job_name": "flares",
            "partition": "gpu",
            "node_list": "gpu[01-02]",
            "restart_count": 0,
        }
    }
    assert environment["cuda_visible_devices"] == "0,1"

    # SLURM requeues the job: the same script resumes from last.ckpt with the restart count raised.
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    again = ArcCheckpointCallback(root_name="flares/slurm", data_folder=data_folder, model_name="m", loss_function="ce")
    make_trainer(tmp_path, [again], max_epochs=3).fit(
        ScriptedClassifier(), datamodule=TinyData(), ckpt_path=run_dir / "last.ckpt"
    )
    summary = read_json(run_dir / "training_summary.json")
    assert summary["schema_version"] == 2
    assert [r["restart_count"] for r in summary["resumes"]] == [1]
    assert read_json(run_dir / "config.json")["_arccnet"]["environment"]["job"]["slurm"]["restart_count"] == 1


def test_torchelastic_and_no_scheduler() -> None:
    environ = {"TORCHELASTIC_RUN_ID": "abc-1", "TORCHELASTIC_RESTART_COUNT": "2", "TORCHELASTIC_MAX_RESTARTS": "3"}
    assert cluster_job(environ) == {"torchelastic": {"run_id": "abc-1", "restart_count": 2, "max_restarts": 3}}
    assert restart_count(environ) == 2
    assert cluster_job({"SLURM_NODELIST": "n1", "SLURM_JOB_ID": "9"}) == {"slurm": {"job_id": 9, "node_list": "n1"}}
    assert cluster_job({}) == {}
    assert restart_count({}) is None
    assert restart_count({"SLURM_RESTART_COUNT": "x"}) is None
