"""A moto S3 server on a free loopback port, for the tests and ``benchmarks/load_runs.py``.

Only 127.0.0.1 is ever targeted: the server binds there, s3fs is pointed there, and no AWS profile, proxy or
metadata service can change that while :func:`moto_s3` is active.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator

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
    """Start the server in a thread of this process, point botocore and fsspec's s3 at it, yield the endpoint."""
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
    try:
        if host != "127.0.0.1":
            raise RuntimeError(f"the moto S3 server bound {host}, not 127.0.0.1")
        werkzeug = logging.getLogger("werkzeug")
        level = werkzeug.level
        werkzeug.setLevel(logging.WARNING)  # one log line per request otherwise
        try:
            with pointed_at(f"http://{host}:{port}") as endpoint:
                yield endpoint
        finally:
            werkzeug.setLevel(level)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


_SERVER_PROCESS = """
import sys, time
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

latency_file = sys.argv[1]
inner = DomainDispatcherApplication(create_backend_app)

def app(environ, start_response):
    with open(latency_file) as f:
        latency = float(f.read() or 0)
    time.sleep(latency)  # the time to first byte of a real object store, not spent on this machine's CPU
    return inner(environ, start_response)

server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def moto_s3_process() -> Iterator[tuple[str, Callable[[float], None]]]:
    """The moto server in a process of its own (its own interpreter lock), for benchmarks.

    Yields the endpoint and ``set_latency(seconds)``: from then on the server answers each request that much later,
    as a remote object store does, waiting on its clock rather than this machine's CPU.
    """
    import s3fs

    with tempfile.TemporaryDirectory() as folder:
        latency_file = os.path.join(folder, "latency")

        def set_latency(seconds: float) -> None:
            with open(latency_file, "w") as f:
                f.write(repr(float(seconds)))

        set_latency(0.0)
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", _SERVER_PROCESS, latency_file],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            line = proc.stdout.readline() if proc.stdout is not None else ""
            if not line.strip().isdigit():
                raise RuntimeError("the moto S3 server process did not start")
            with pointed_at(f"http://127.0.0.1:{int(line)}") as endpoint:
                yield endpoint, set_latency
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            proc.terminate()
            proc.wait(timeout=30)


@contextlib.contextmanager
def pointed_at(endpoint: str) -> Iterator[str]:
    """Point botocore and fsspec's s3 at ``endpoint`` with dummy credentials; undo it all afterwards."""
    import s3fs

    saved_env = {name: os.environ.get(name) for name in (*_ENV, "AWS_ENDPOINT_URL", *_UNSET)}
    saved_conf = fsspec.config.conf.get("s3")
    try:
        os.environ.update({**_ENV, "AWS_ENDPOINT_URL": endpoint})  # botocore honours AWS_ENDPOINT_URL
        for name in _UNSET:
            os.environ.pop(name, None)
        # fsspec read its FSSPEC_S3_* variables at import; its live config is what new s3fs instances use.
        fsspec.config.conf["s3"] = {"endpoint_url": endpoint}
        s3fs.S3FileSystem.clear_instance_cache()
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
