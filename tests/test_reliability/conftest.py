"""Hostile and careless inputs: poisoned checkpoints and a local http server that serves them."""
import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import torch


class RunsCommand:
    """Unpickling this runs ``touch MARKER``: a poisoned checkpoint."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def write_poisoned(path: Path, marker: Path) -> Path:
    """A checkpoint that looks like MMEngine's but whose meta runs a command when unpickled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=dict(w=torch.randn(2)), meta=RunsCommand(marker)), path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    """The file a poisoned checkpoint would create; tests assert it never appears."""
    return tmp_path / 'code_ran'


@pytest.fixture
def http_root(tmp_path):
    """``(directory, base URL)``: files in the directory are served at ``http://127.0.0.1:PORT/``."""
    root = tmp_path / 'served'
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch home: torch hub's cache is ``<it>/hub/checkpoints``."""
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    return home


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass
