"""The framework-free core of a run. No torch, no Lightning.

* ``lifecycle``: where a run's status is decided, written (``Phase``, ``Event``, ``transition``) and read
  (``status_of``, ``is_stale``);
* ``recorder``: ``RunRecorder``, the state machine that drives every write into a run folder (no import of the reader
  or the report: both come from the adapter), and ``KeptSummary``, the summary written back when another tool breaks it;
* ``records``: every record of a transition built from plain values (the summary of a new, resumed or ended run,
  ``history.json`` after a validation, a test's dataloader reports);
* ``progress``: what a fit has reached (``FitSnapshot``), and the attempts, durations and resumes of a run;
* ``evaluations``: every test an evaluation, and the headline rule;
* ``merge``: the manual merge, and each record merged over the file on disk;
* ``runfolder``: which folder a run writes to, and the names it is filed under.
"""
