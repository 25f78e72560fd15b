"""Data-test fixtures: synthetic IDX files, the real files, a local HTTP mirror, the CLI."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab.data.datasets import DatasetSpec, FileSpec, get_dataset
from mnistlab.data.idx import encode_idx
from mnistlab.data.splits import make_splits
from mnistlab.data.store import load_raw

# The official MD5s of the uncompressed files, copied from ../shared/data/mnist/README.md, so the
# tests check the registry against an independent source rather than against itself.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FILE_NAMES = tuple(OFFICIAL_MD5)


def ci_strict() -> bool:
    return os.environ.get("MNISTLAB_REQUIRE_DATA") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP threads spinning against other
    processes make these small tensor ops many times slower, and no data test needs them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _no_real_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A download a test did not ask for fails at once on a closed local port, never reaching
    the internet; tests that want a mirror pass --mirror or set MNISTLAB_MIRRORS themselves."""
    monkeypatch.setenv("MNISTLAB_MIRRORS", "http://127.0.0.1:9/")


# --- synthetic data ---------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, *, gz: bool | None = None) -> Path:
    """Write `array` as IDX at `path` (gzip-compressed when the name ends in .gz)."""
    data = encode_idx(array)
    if gz if gz is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def make_synthetic(
    folder: Path, n_train: int = 20, n_test: int = 10, *, train_labels=None, name: str = "synthetic"
) -> DatasetSpec:
    """Four small IDX .gz files in `folder` and a DatasetSpec whose MD5s match them."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": (np.arange(n_train) % 10).astype(np.uint8)
        if train_labels is None
        else np.asarray(train_labels, dtype=np.uint8),
        "test-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test-labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    mnist = get_dataset("mnist")
    files = []
    for official in mnist.files:
        array = arrays[official.key]
        write_idx(folder / f"{official.name}.gz", array)
        raw = encode_idx(array)
        files.append(
            FileSpec(
                official.key, official.name, hashlib.md5(raw).hexdigest(), len(raw), len(array)
            )
        )
    return DatasetSpec(
        name=name,
        title="synthetic test data",
        files=tuple(files),
        mirrors=(),
        classes=mnist.classes,
        torchvision_folder="MNIST",
    )


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[DatasetSpec, Path]:
    folder = tmp_path / "synthetic"
    folder.mkdir()
    return make_synthetic(folder), folder


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG cache for this test only, and no data folder from the environment."""
    cache = tmp_path / "xdg"
    cache.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("MNISTLAB_DATA_DIR", raising=False)
    return cache / "mnistlab"


# --- real data --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_gz(real_data_dir: Path) -> dict[str, bytes]:
    """The real files as served by a mirror: name.gz -> gzip bytes (plain files get gzipped)."""
    served = {}
    for name in FILE_NAMES:
        gz, plain = real_data_dir / f"{name}.gz", real_data_dir / name
        served[f"{name}.gz"] = (
            gz.read_bytes() if gz.is_file() else gzip.compress(plain.read_bytes(), compresslevel=1)
        )
    return served


@pytest.fixture(scope="session")
def real_raw(real_data_dir: Path):
    return load_raw(get_dataset("mnist"), real_data_dir)


@pytest.fixture(scope="session")
def real_splits(real_raw):
    return make_splits(real_raw)


def link_real_files(real_data_dir: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    """Symlink the real files (except `skip`) into `dest`, keeping their names."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in real_data_dir.iterdir():
        if path.name.split(".gz")[0] in FILE_NAMES and path.name.split(".gz")[0] not in skip:
            (dest / path.name).symlink_to(path)


# --- a local HTTP mirror ----------------------------------------------------------------------


BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # ~64 KB that unpacks to 64 MB


class Mirror:
    """A ThreadingHTTPServer on 127.0.0.1 whose first path segment picks a behaviour.

    good: the file; missing: 404; corrupt: a valid gzip of content with one flipped byte;
    cut: the full Content-Length but only half the bytes; flaky: 503 once, then the file;
    error: always 500; slow: waits longer than any client timeout used in the tests;
    bomb: a small gzip that unpacks to 64 MB of zeros; endless: zeros without a length, until
    the client hangs up; trickle: the file's length announced, then a byte every 0.2 s.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.hits: Counter[str] = Counter()  # "/mode/name" -> requests
        self.user_agents: list[str | None] = []
        self._corrupt: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}/"

    def corrupt(self, name: str) -> bytes:
        if name not in self._corrupt:
            content = bytearray(gzip.decompress(self.files[name]))
            content[len(content) // 2] ^= 0x01
            self._corrupt[name] = gzip.compress(bytes(content), compresslevel=1)
        return self._corrupt[name]

    def _handler(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                _, route, name = self.path.split("/", 2)
                mode = route.split("-")[0]  # good-2: a good mirror with its own hit count
                with mirror._lock:
                    mirror.hits[self.path] += 1
                    hits = mirror.hits[self.path]
                    mirror.user_agents.append(self.headers.get("User-Agent"))
                if name not in mirror.files or mode == "missing":
                    return self.send_error(404)
                if mode == "error" or (mode == "flaky" and hits == 1):
                    return self.send_error(503 if mode == "flaky" else 500)
                if mode in ("endless", "trickle"):
                    return self._drip(len(mirror.files[name]), endless=mode == "endless")
                body = mirror.corrupt(name) if mode == "corrupt" else mirror.files[name]
                if mode == "bomb":
                    body = BOMB
                if mode == "slow":
                    threading.Event().wait(3.0)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)
                    self.wfile.flush()
                except OSError:  # the client gave up (timeout tests)
                    pass
                self.close_connection = True

            def _drip(self, length: int, endless: bool) -> None:
                self.send_response(200)
                if not endless:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                try:
                    while True:
                        self.wfile.write(b"\0" * (1 << 16) if endless else b"\x1f")
                        self.wfile.flush()
                        if not endless:
                            threading.Event().wait(0.2)
                except OSError:  # the client hung up, as it should
                    pass
                self.close_connection = True

        return Handler

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(real_gz: dict[str, bytes]):
    with Mirror(real_gz) as server:
        yield server


@pytest.fixture(scope="module")
def module_mirror(real_gz: dict[str, bytes]):
    with Mirror(real_gz) as server:
        yield server


# --- the command line as a user runs it -------------------------------------------------------


Command = list | tuple  # [args...] or ([args...], {extra env})


def run_mnistlab(
    *commands: Command, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> list[subprocess.CompletedProcess]:
    """Run `python -m mnistlab ARGS` for each command, concurrently (each start imports torch)."""
    procs = []
    for command in commands:
        args, extra = command if isinstance(command, tuple) else (command, {})
        # one intra-op thread, as in-process (see _one_torch_thread), unless the caller says
        full_env = {"OMP_NUM_THREADS": "1", **os.environ, **(env or {}), **extra}
        for key in [k for k, v in full_env.items() if v is None]:
            del full_env[key]  # None in `extra` unsets a variable
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "mnistlab", *map(str, args)],
                cwd=cwd,
                env=full_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., list[subprocess.CompletedProcess]]:
    """`run_mnistlab` in this test's scratch folder."""
    return lambda *commands, **kw: run_mnistlab(*commands, cwd=tmp_path, **kw)


@pytest.fixture(scope="session")
def cli_runner() -> Callable[..., list[subprocess.CompletedProcess]]:
    return run_mnistlab


# --- helpers as fixtures (tests cannot import conftest under --import-mode=importlib) ----------


@pytest.fixture(scope="session")
def official_md5() -> dict[str, str]:
    return dict(OFFICIAL_MD5)


@pytest.fixture(scope="session")
def idx_writer() -> Callable[..., Path]:
    return write_idx


@pytest.fixture(scope="session")
def synthetic_factory() -> Callable[..., DatasetSpec]:
    return make_synthetic


@pytest.fixture(scope="session")
def link_real(real_data_dir: Path) -> Callable[..., None]:
    return lambda dest, skip=(): link_real_files(real_data_dir, dest, skip)
