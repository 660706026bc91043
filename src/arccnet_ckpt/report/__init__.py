"""``report.html`` (``html``) and the formatting of numbers, times and durations shared with the command line
(``format``). Importing this package imports neither torch nor the page's renderer."""
