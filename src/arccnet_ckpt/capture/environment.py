"""The machine and the code a run came from: Python, libraries, GPUs, the (redacted) command line, the scheduler's
job (SLURM, TorchElastic) and its restart count, and the git state of the run's code.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from arccnet_ckpt.capture.redact import redact_argv


def environment_info(lightning_version: str | None) -> dict[str, Any]:
    """Python, platform, host, library versions, CUDA and the (redacted) command line."""
    import pydantic
    import torch

    cuda = None
    gpus: list[str] = []
    if torch.cuda.is_available():
        cuda = torch.version.cuda
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "torch": torch.__version__,
        "lightning": lightning_version,
        "pydantic": pydantic.VERSION,
        "cuda": cuda,
        "argv": redact_argv(sys.argv),
    }
    if gpus:
        info["gpus"] = gpus
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        info["cuda_visible_devices"] = visible
    job = cluster_job(os.environ)
    if job:
        info["job"] = job
    return info


_SLURM = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "job_name": "SLURM_JOB_NAME",
    "partition": "SLURM_JOB_PARTITION",
    "node_list": "SLURM_JOB_NODELIST",
    "restart_count": "SLURM_RESTART_COUNT",
}

_TORCHELASTIC = {
    "run_id": "TORCHELASTIC_RUN_ID",
    "restart_count": "TORCHELASTIC_RESTART_COUNT",
    "max_restarts": "TORCHELASTIC_MAX_RESTARTS",
}


def cluster_job(environ: Mapping[str, str]) -> dict[str, Any]:
    """The scheduler's identity of this process: SLURM (job, array job and task, name, partition, node list, restart
    count) and TorchElastic (run id, restart count, max restarts); only what the environment holds."""
    job: dict[str, Any] = {}
    for scheduler, names in (("slurm", _SLURM), ("torchelastic", _TORCHELASTIC)):
        found = {key: _env_value(environ[var]) for key, var in names.items() if environ.get(var)}
        if scheduler == "slurm" and "node_list" not in found and environ.get("SLURM_NODELIST"):
            found["node_list"] = environ["SLURM_NODELIST"]  # older SLURM
        if found:
            job[scheduler] = found
    return job


def restart_count(environ: Mapping[str, str] | None = None) -> int | None:
    """How many times the scheduler restarted this job (SLURM requeue, TorchElastic restart); ``None`` outside one."""
    environ = os.environ if environ is None else environ
    for var in ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"):
        value = _env_value(environ.get(var, ""))
        if isinstance(value, int):
            return value
    return None


def _env_value(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


GIT_SOURCES = ("script", "module", "cwd")
"""Where :func:`git_info` looks for the repository, in order: the running script (``__main__``'s file), the
LightningModule's source file, the working directory."""


def git_info(module: Any = None) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the repository the run's code came from; ``None`` outside one (or without
    git).

    The repository is the one holding the running script (``__main__``'s file: ``cd $SCRATCH && python
    ~/flares/train.py`` finds ``~/flares``), else the one holding ``module``'s class (a script run from a package, a
    notebook), else the one around the working directory. ``source`` says which (:data:`GIT_SOURCES`) and ``root``
    is the repository's top folder.
    """
    for source, folder in _git_candidates(module):
        root = _git(folder, "rev-parse", "--show-toplevel")
        commit = _git(folder, "rev-parse", "HEAD") if root else None
        if root is None or commit is None:
            continue
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
        return {"commit": commit, "branch": branch, "dirty": dirty, "source": source, "root": root}
    return None


def _git_candidates(module: Any) -> list[tuple[str, str]]:
    """``(source, folder)`` for the script, the module's class and the working directory, in that order."""
    out: list[tuple[str, str]] = []
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(script, str) and os.path.isfile(script):
        out.append(("script", os.path.dirname(os.path.abspath(script))))
    if module is not None:
        defined_in = getattr(sys.modules.get(type(module).__module__), "__file__", None)
        if isinstance(defined_in, str) and os.path.isfile(defined_in):
            out.append(("module", os.path.dirname(os.path.abspath(defined_in))))
    out.append(("cwd", os.getcwd()))
    return out


def _git(folder: str, *args: str) -> str | None:
    """``git -C folder ARGS``' output, or ``None`` when git fails or is missing."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", folder, *args],  # noqa: S607 - git from PATH is what the user runs too
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
