"""The Lightning adapter: the callback (``callback``), rank-0 decisions and their broadcast (``ranks``), and
checkpoints staged beside their final name (``staging``)."""
