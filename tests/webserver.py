"""``ikuflow web`` as a real process on a loopback port, for the tests that drive it (over HTTP,
through the remote CLI, in a browser): started with the test's environment, waited for until its
API answers (401 to a request without a token), stopped with SIGTERM, its output kept in a log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from smtp_peer import free_port

#: seconds the server may take to answer (it takes about half a second): only to fail with a
#: message instead of hanging
START_TIMEOUT = 60


class WebServer:
    """``ikuflow web --host 127.0.0.1 --port PORT`` with ``env`` (default: this process's),
    answering at ``url``; its output in ``log_path``."""

    def __init__(self, log_path: Path, port: int | None = None, env: dict | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        exe = Path(sys.executable).with_name("ikuflow")
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([str(exe), "web", "--host", "127.0.0.1", "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=dict(os.environ) if env is None else env)
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"ikuflow web exited {self.proc.returncode}: {self.tail()}"
            try:
                urllib.request.urlopen(self.url + "/api/v1/me", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"ikuflow web did not answer in {START_TIMEOUT} s: {self.tail()}"
            time.sleep(0.05)

    def tail(self) -> str:
        """The end of the server's output."""
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
