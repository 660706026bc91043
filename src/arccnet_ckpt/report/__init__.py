"""``report.html``, and the formatting of numbers, times and durations shared with the command line.

* ``html``: :func:`~arccnet_ckpt.report.html.render_html` and :func:`~arccnet_ckpt.report.html.write_report`, the
  Jinja2 environment (autoescape), the values of one run's page; ``templates/`` holds the markup;
* ``view``: a run's files read once (a missing or broken file says so instead of failing);
* ``compare``: the comparison's values (deltas against run #1, the settings that differ);
* ``group``: a group's page (folds side by side, mean ± std, matrices, pooled report) from its ``GroupSummary``;
* ``curves``: which training curves to draw; ``svg``: drawing them and the confusion matrix, by hand;
* ``markup``: the one escaping rule (no ``//`` in the page's bytes);
* ``format``: numbers, times, durations, sizes, for the page and the command line alike.

This file imports nothing: ``arccnet-ckpt ls`` imports ``report.format`` without Jinja2, and nothing here imports
torch.
"""
