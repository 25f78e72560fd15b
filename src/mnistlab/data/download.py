"""Downloading missing files from mirrors, verified before they are kept.

Each file is streamed into a temporary file beside its destination and renamed into place only
after its uncompressed content matches the official MD5, so an interrupted or corrupt transfer
never leaves anything at the final path.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnistlab.data import idx, store
from mnistlab.data.datasets import DatasetSpec, FileSpec
from mnistlab.errors import DataError, DownloadError
from mnistlab.files import readable_mode
from mnistlab.version import __version__

USER_AGENT = f"mnistlab/{__version__} (+https://pypi.org/project/mnistlab/)"
CHUNK = 1 << 16

ProgressFn = Callable[[str, int, int | None], None]


def mirror_list(spec: DatasetSpec, mirrors: list[str] | None = None) -> list[str]:
    """Explicit mirrors, else $MNISTLAB_MIRRORS (comma-separated), else the dataset's own."""
    if mirrors:
        return list(mirrors)
    env = os.environ.get("MNISTLAB_MIRRORS", "")
    from_env = [m.strip() for m in env.split(",") if m.strip()]
    return from_env or list(spec.mirrors)


def terminal_progress(name: str, done: int, total: int | None) -> None:
    """A one-line progress bar on stderr, redrawn in place."""
    if total:
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        line = f"{name} [{bar}] {done / 1e6:5.1f}/{total / 1e6:.1f} MB"
    else:
        line = f"{name} {done / 1e6:5.1f} MB"
    end = "\n" if total and done >= total else ""
    print(f"\r{line}", end=end, file=sys.stderr, flush=True)


class TransferError(OSError):
    """A transfer stopped on purpose: too large, stalled, or past its deadline."""


@dataclass(frozen=True)
class Limits:
    """What one file's transfer may take. `max_bytes` None: no size cap."""

    timeout: float = 30.0  # seconds a connect or a single read may wait
    stall_seconds: float = 30.0  # a window in which at least `stall_bytes` must arrive
    stall_bytes: int = 16 * 1024
    deadline: float = 600.0  # seconds for the whole file
    max_bytes: int | None = None


def _stream_to(url: str, handle, limits: Limits, label: str, progress: ProgressFn | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=limits.timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and limits.max_bytes is not None and total > limits.max_bytes:
            raise TransferError(f"announces {total:,} bytes, more than the file can be")
        done, window_start, window_bytes = 0, start, 0
        # read1: whatever has arrived (at least a byte), so a mirror that trickles is noticed
        while chunk := response.read1(CHUNK):
            handle.write(chunk)
            done += len(chunk)
            window_bytes += len(chunk)
            now = time.monotonic()
            if limits.max_bytes is not None and done > limits.max_bytes:
                raise TransferError(f"sent more than {limits.max_bytes:,} bytes")
            if now - start > limits.deadline:
                raise TransferError(f"not done after {limits.deadline:.0f} s")
            if now - window_start >= limits.stall_seconds:
                if window_bytes < limits.stall_bytes:
                    raise TransferError(
                        f"stalled ({window_bytes} bytes in {now - window_start:.0f} s)"
                    )
                window_start, window_bytes = now, 0
            if progress:
                progress(label, done, total)
        if total is not None and done != total:
            raise http.client.IncompleteRead(b"", total - done)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return "timed out"
        return f"cannot connect ({reason})"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, TransferError):
        return f"stopped: {exc}"
    if isinstance(exc, http.client.IncompleteRead):
        return "transfer cut short"
    if isinstance(exc, DataError):
        return str(exc).split(": ", 1)[-1].split(";")[0]
    if isinstance(exc, ValueError):
        return f"not a usable URL ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _retryable(exc: BaseException) -> bool:
    # A 4xx will not change on a second try, nor a mirror sending too much or too slowly;
    # network trouble and 5xx might.
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500
    if isinstance(exc, TransferError):
        return False
    return not isinstance(exc, (DataError, ValueError))


STALE_PART_SECONDS = 3600


def remove_stale_parts(dest_dir: Path, name: str) -> None:
    """Delete .part files of `name` left by a process killed mid-transfer (SIGKILL, power loss)
    over an hour ago; a younger one may belong to a download still running."""
    now = time.time()
    for part in dest_dir.glob(f".{name}.*.part"):
        try:
            if now - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()
        except OSError:
            pass


def _temp_file(dest_dir: Path, name: str) -> Path:
    """An empty, readable temporary file in `dest_dir`; a DataError if it cannot be written."""
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(dest_dir, name)
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{name}.", suffix=".part")
        os.close(fd)
        os.chmod(tmp_name, readable_mode())
    except OSError as exc:
        raise DataError(
            f"{dest_dir}: cannot write downloads there ({exc.strerror}); pass "
            "--data-dir with a writable folder"
        ) from None
    return Path(tmp_name)


def download_file(
    file: FileSpec,
    mirrors: list[str],
    dest_dir: Path,
    *,
    timeout: float = 30.0,
    retries: int = 1,
    progress: ProgressFn | None = None,
    limits: Limits | None = None,
) -> Path:
    """Fetch `file.name + '.gz'` from the first mirror that serves verified content, within
    `limits` (default: at most the most a .gz of the file can be, `timeout` per read, a stall
    window and an overall deadline). The .part file is removed on any exit Python sees."""
    final = dest_dir / f"{file.name}.gz"
    limits = limits or Limits(timeout=timeout, max_bytes=idx.gzip_bound(file.size))
    failures: list[str] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + final.name
        for attempt in range(retries + 1):
            tmp = _temp_file(dest_dir, final.name)
            try:
                with tmp.open("wb") as handle:
                    _stream_to(url, handle, limits, final.name, progress)
                content = store.load_verified(tmp, file)  # decompress + MD5, DataError if bad
                os.replace(tmp, final)
                del content
                return final
            except (OSError, ValueError, http.client.HTTPException, DataError) as exc:
                # ValueError: a mirror URL urllib cannot use (no scheme, bad port)
                tmp.unlink(missing_ok=True)
                if attempt < retries and _retryable(exc):
                    continue
                failures.append(f"{url}: {_describe(exc)}")
                break
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    raise DownloadError(
        f"could not download {final.name} from any mirror ({'; '.join(failures)}); "
        f"check the network or pass --mirror URL, or {store.OFFLINE_HINT}"
    )


def ensure_files(
    spec: DatasetSpec,
    data_dir: str | Path | None = None,
    *,
    mirrors: list[str] | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Download whatever is missing into the chosen root, then return the four paths."""
    missing = store.missing_files(spec, data_dir)
    if missing:
        dest = store.download_root(spec, data_dir)
        if progress is None and sys.stderr.isatty():
            progress = terminal_progress
        urls = mirror_list(spec, mirrors)
        for file in missing:
            download_file(file, urls, dest, timeout=timeout, progress=progress)
    return store.locate(spec, data_dir)
