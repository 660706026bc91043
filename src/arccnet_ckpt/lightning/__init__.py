"""The Lightning adapter.

* ``callback``: ``ArcCheckpointLogic`` and ``ArcCheckpointCallback``, each hook a guard plus one call;
* ``settings``: the constructor's own arguments, checked (testable without a Trainer);
* ``run``: ``CallbackRun``, what each hook's call does: the run's opening and identity, its records, the stamp;
* ``observe``: the Trainer read into plain values (snapshots, the config record, loggers, dataloader names);
* ``session``: the run and the per-fit state as plain values, and the decisions on them (testable without a Trainer);
* ``ranks``: what happens on rank 1: rank-0 work and its broadcast (``on_rank_zero``), rank-0-only work
  (``rank_zero_alone``), every collective;
* ``policy``: ``catch_and_warn``, the one "never kill the run" rule;
* ``namespaces``: ``lightning.pytorch`` and ``pytorch_lightning``, and the refusal of the other one's Trainer;
* ``staging``: checkpoints staged beside their final name, superseded background saves removed.
"""
