"""``python -m arccnet_ckpt``: the ``arccnet-ckpt`` command line."""

from arccnet_ckpt.cli import run

if __name__ == "__main__":
    run()
