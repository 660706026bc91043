"""Exceptions raised by arccnet-ckpt.

Every error the package raises on purpose derives from :class:`ArcCkptError`, so callers can catch the whole family
with one ``except`` clause. The specific classes also derive from the built-in they refine (``ValueError``,
``OSError``, ``TypeError``), so code written against the built-ins keeps working.
"""

from __future__ import annotations


class ArcCkptError(Exception):
    """Base class of every error raised by arccnet-ckpt."""


class ArtifactError(ArcCkptError, ValueError):
    """A JSON artifact is invalid: wrong type, unknown value, or not parseable.

    The message names the file and the offending field.
    """


class RunFolderError(ArcCkptError, OSError):
    """The run folder cannot be created or written (read-only, a file in the way, disk full, ...)."""


class NamespaceMismatchError(ArcCkptError, TypeError):
    """A callback built for one Lightning namespace met a Trainer of the other one.

    ``lightning.pytorch`` and ``pytorch_lightning`` have separate class trees: a callback of one only half-works in a
    Trainer of the other, so the package refuses instead of silently writing an incomplete record.
    """


class LabelError(ArcCkptError, ValueError):
    """A prediction or target label is outside ``range(num_classes)``."""


class RunNotFoundError(ArcCkptError, FileNotFoundError):
    """The run folder, or the file asked of it (e.g. the best checkpoint), does not exist."""


class GroupNotFoundError(ArcCkptError, LookupError):
    """No run under the data folder records the group id asked for (``load_group``, ``arccnet-ckpt group show``)."""


class RankZeroError(ArcCkptError, RuntimeError):
    """Global rank 0 failed while doing work for every rank; raised on the other ranks when the original exception
    cannot be sent to them (its type, message and traceback are in the message)."""


class LifecycleError(ArcCkptError, RuntimeError):
    """A run was asked to make a transition its life cycle does not allow (e.g. finish a run that is not running).

    The message names the run's state, the transition asked for, and the transitions allowed from that state.
    """


class CheckpointMismatchError(ArcCkptError, ValueError):
    """A checkpoint records another run than the folder it is loaded from (``Run.load_model``)."""


class ArcCkptWarning(UserWarning):
    """Something could not be captured or written; the run goes on and the rest of the record is kept."""


class ManagerWarning(UserWarning):
    """A manual ``save_*`` value disagrees with what the callback measured; the measured value is kept, and the
    caller's value is recorded under ``manual_values``."""
