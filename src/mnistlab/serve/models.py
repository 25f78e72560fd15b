"""Several models in one server, switched per request (?model=NAME) and on the page.

The models named at start are loaded then (a bad one fails before the server listens) and
stay. With a watched folder (`serve --runs DIR`) every run folder in it is offered too, by its
folder name, also one written after the server started (`mnistlab finetune MODEL DIGITS --out
DIR/me`): it is loaded when first asked for, and loaded again when its model.json changes
(fine-tuned again into the same folder). At most `max_models` are held at once: past that the
watched folder's model used least recently is dropped (it loads again when next asked for),
so memory stays bounded however many folders there are.

The default model answers a request with no query string at no cost: only a request that
names a model looks one up.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool

from mnistlab.errors import MnistlabError
from mnistlab.inference.predictor import Predictor
from mnistlab.inference.reading import reading_rule
from mnistlab.runs.names import META
from mnistlab.serve.batching import DEFAULT_MAX_WAIT, MicroBatcher
from mnistlab.serve.inputs import ApiError

DEFAULT_MAX_MODELS = 8  # a shipped model is under 1 MB of weights, a sota-cpu one ~20 MB held
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # what ?model= takes: URL-safe
NAMED, RUNS = "named", "runs"

Prepare = Callable[[Predictor], Predictor]  # e.g. onnxruntime and the fast detector (serve)


@dataclass
class Served:
    """One model as the app serves it: its predictor, the same never refusing (/api/read's
    ?reject=false) and the batcher in which its digits share forward passes."""

    name: str
    source: str  # NAMED or RUNS
    predictor: Predictor
    stamp: tuple[int, int] | None = None  # a run folder's model.json (mtime_ns, size) at load
    batch_wait: float = DEFAULT_MAX_WAIT
    lenient: Predictor = field(init=False)
    batcher: MicroBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.lenient = self.predictor.with_rejection(False)
        self.batcher = MicroBatcher(self.predictor.predict_pixels, max_wait=self.batch_wait)


def model_name(spec: str | Path | None, predictor: Predictor) -> str:
    """The name a model given at start is offered under: a shipped name as given, a folder by
    its own name; a name ?model= could not carry is made one it can."""
    if spec is None:
        from mnistlab.runs import default_pretrained

        spec = default_pretrained()
    name = Path(spec).resolve().name if Path(spec).is_dir() else str(spec)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")[:64]
    return name or predictor.name


class Shelf:
    """The models a server holds: `named` (name -> Predictor; the first is the default) and,
    given `runs_dir` (created if missing), the run folders in it, loaded on demand through
    `prepare`."""

    def __init__(
        self,
        named: Mapping[str, Predictor],
        *,
        runs_dir: str | Path | None = None,
        max_models: int = DEFAULT_MAX_MODELS,
        prepare: Prepare | None = None,
        batch_wait: float = DEFAULT_MAX_WAIT,
    ):
        if not named:
            raise MnistlabError("serve: no model to serve")
        if len(named) > max_models:
            raise MnistlabError(
                f"serve: {len(named)} models named, more than --max-models {max_models}"
            )
        for name in named:
            if not NAME.fullmatch(name):
                raise MnistlabError(f"serve: {name!r} is not a model name ?model= can carry")
        self.runs_dir = None if runs_dir is None else Path(runs_dir)
        if self.runs_dir is not None:  # created now, as --collect's: a bad path fails at start
            try:
                self.runs_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MnistlabError(f"serve --runs {runs_dir}: {exc.strerror}") from None
        self.max_models, self.batch_wait = max_models, batch_wait
        self.prepare = prepare or (lambda predictor: predictor)
        self.held: OrderedDict[str, Served] = OrderedDict(
            (name, Served(name, NAMED, p, batch_wait=batch_wait)) for name, p in named.items()
        )  # least recently used first
        self.default = next(iter(self.held.values()))
        self._loading = asyncio.Lock()

    async def pick(self, name: str | None) -> Served:
        """The model a request names (None: the default), loading a run folder's when needed;
        ApiError 400 unknown_model naming the known ones, or 409 model_unavailable when its
        folder cannot be loaded (being written, or damaged)."""
        if name is None or name == self.default.name:
            return self.default
        served = self.held.get(name)
        if served is not None and served.source == NAMED:
            return served
        folder = self._run_folder(name)
        if folder is None:
            self.held.pop(name, None)  # a watched folder's model whose folder has gone
            known = ", ".join(self.names())
            raise ApiError(400, "unknown_model", f"unknown model {name[:70]!r}; known: {known}")
        stamp = _stamp(folder)
        if served is not None and served.stamp == stamp:
            self.held.move_to_end(name)
            return served
        async with self._loading:  # one load at a time; a request waiting may find it done
            served = self.held.get(name)
            if served is None or served.stamp != stamp:
                predictor = await run_in_threadpool(self._load, name, folder)
                served = Served(name, RUNS, predictor, stamp, self.batch_wait)
                self._hold(served)
        self.held.move_to_end(name)
        return served

    def names(self) -> list[str]:
        """Every model a request may name: the named ones, then the watched folder's."""
        named = self._named()
        return named + [n for n in self._run_names() if n not in named]

    def listing(self) -> dict[str, Any]:
        """GET /api/models: serve.schemas.ModelsOut."""
        named = set(self._named())
        models = [
            {"name": name, "default": name == self.default.name,
             "source": NAMED if name in named else RUNS, "loaded": name in self.held}
            for name in self.names()
        ]  # fmt: skip
        return {
            "default": self.default.name,
            "models": models,
            "max_models": self.max_models,
            "watching": self.runs_dir is not None,
        }

    def _named(self) -> list[str]:
        return [name for name, s in self.held.items() if s.source == NAMED]

    def _run_names(self) -> list[str]:
        """The watched folder's run folders (those with a model.json, which is written last),
        sorted; none without --runs."""
        if self.runs_dir is None:
            return []
        try:
            with os.scandir(self.runs_dir) as entries:
                found = [e.name for e in entries if e.is_dir() and NAME.fullmatch(e.name)]
        except OSError:
            return []
        return sorted(n for n in found if (self.runs_dir / n / META).is_file())

    def _run_folder(self, name: str) -> Path | None:
        if self.runs_dir is None or not NAME.fullmatch(name) or name in self._named():
            return None
        folder = self.runs_dir / name
        return folder if (folder / META).is_file() else None

    def _load(self, name: str, folder: Path) -> Predictor:
        try:
            predictor = Predictor.from_path(folder)
            # a string rule this reader cannot use makes the folder unavailable, as a model
            # given at start fails there (not a misleading 400 on each number read with it)
            reading_rule(predictor)
            return self.prepare(predictor)
        except (MnistlabError, OSError, ValueError) as exc:
            message = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            raise ApiError(
                409, "model_unavailable", f"model {name!r} cannot be loaded: {message}"
            ) from None

    def _hold(self, served: Served) -> None:
        """Hold `served`, dropping the watched folder's least recently used past max_models."""
        self.held[served.name] = served
        self.held.move_to_end(served.name)
        while len(self.held) > self.max_models:
            oldest = next(n for n, s in self.held.items() if s.source == RUNS)
            del self.held[oldest]


def _stamp(folder: Path) -> tuple[int, int] | None:
    try:
        info = (folder / META).stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
