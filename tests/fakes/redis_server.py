"""A real redis-server on a free loopback port, owned by one test (or module): started,
stopped and restarted on the same port; no persistence, so it starts empty."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """With `tls`, only a TLS port (a self-signed certificate made with openssl) and a
    password: `url` is then rediss://:PASSWORD@127.0.0.1:PORT/0?ssl_ca_certs=CERT."""

    def __init__(self, workdir: Path, tls: bool = False, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing: .ci/setup installs Debian's redis-server"
        self._binary = binary
        self._dir = workdir
        self.port = free_port()
        self._tls, self._password = tls, password
        auth = f":{password}@" if password else ""
        if tls:
            self._cert = workdir / "redis-cert.pem"
            self.url = f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self._cert}"
            self._make_certificate()
        else:
            self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        assert openssl, "openssl is missing: .ci/setup installs it"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(self._dir / "redis-key.pem"), "-out", str(self._cert),
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        args = [self._binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self._dir)]  # fmt: skip
        if self._tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file",
                     str(self._cert), "--tls-key-file", str(self._dir / "redis-key.pem"),
                     "--tls-ca-cert-file", str(self._cert), "--tls-auth-clients", "no"]  # fmt: skip
        else:
            args += ["--port", str(self.port)]
        if self._password:
            args += ["--requirepass", self._password]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=0.5)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
