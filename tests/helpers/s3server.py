"""A moto S3 server on a free loopback port, for the tests and ``benchmarks/load_runs.py``.

Only 127.0.0.1 is ever targeted: the server binds there, s3fs is pointed there, and no AWS profile, proxy or
metadata service can change that while :func:`moto_s3` is active.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

import fsspec

SERVER_START_TIMEOUT_S = 30

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",  # no user profile may change region or endpoint
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Start the server, point botocore and fsspec's s3 at it, yield the endpoint; undo everything after."""
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits without a time limit for the server thread; a thread that never gets there must not hang.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(SERVER_START_TIMEOUT_S)
    if starter.is_alive():
        raise RuntimeError(f"the moto S3 server did not start within {SERVER_START_TIMEOUT_S} s")
    host, port = server.get_host_and_port()
    if host != "127.0.0.1":
        server.stop()
        raise RuntimeError(f"the moto S3 server bound {host}, not 127.0.0.1")
    endpoint = f"http://{host}:{port}"
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # one log line per request otherwise
    saved_env = {name: os.environ.get(name) for name in (*_ENV, "AWS_ENDPOINT_URL", *_UNSET)}
    saved_conf = fsspec.config.conf.get("s3")
    try:
        os.environ.update({**_ENV, "AWS_ENDPOINT_URL": endpoint})  # botocore honours AWS_ENDPOINT_URL
        for name in _UNSET:
            os.environ.pop(name, None)
        # fsspec read its FSSPEC_S3_* variables at import; its live config is what new s3fs instances use.
        fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
        yield endpoint
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if saved_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved_conf
        werkzeug.setLevel(level)
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
