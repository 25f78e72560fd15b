"""Running under torchrun: process-group set-up and the few collectives training needs.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them training
runs in one process. The backend follows the device: NCCL for CUDA, gloo for the CPU.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from mnistlab.errors import MnistlabError
from mnistlab.system import resolve_device

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = dt.timedelta(minutes=10)  # how long a collective waits for a rank that hangs


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # the process group that every collective here and DistributedDataParallel use (see setup)
    group: Any = field(default=None, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()


SINGLE = DistContext()


def context_from_env(environ: dict[str, str] | None = None) -> DistContext | None:
    """The launcher's rank and world size; None outside torchrun; an error when half-set."""
    env = os.environ if environ is None else environ
    present = [v for v in ENV_VARS if v in env]
    if not present:
        return None
    missing = [v for v in ENV_VARS if v not in env]
    if missing:
        raise MnistlabError(
            f"distributed environment is half-set ({', '.join(present)} set, "
            f"{', '.join(missing)} missing); launch with torchrun, or unset them"
        )
    try:
        rank, world, local = (int(env[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise MnistlabError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if not 0 <= rank < world:
        raise MnistlabError(f"RANK={rank} is outside 0..WORLD_SIZE-1 ({world})")
    return DistContext(rank, world, local)


def setup(device_request: str = "auto") -> tuple[DistContext, torch.device]:
    """Join the process group if launched by torchrun; the device for this rank."""
    ctx = context_from_env()
    device = resolve_device(device_request)
    if ctx is None:
        return SINGLE, device
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if ctx.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT)
    if ctx.world_size > 1:
        # A group of our own, not the default one. torch 2.13's DistributedDataParallel leaves
        # references to the default group behind (10 of them, whatever group it is given), so
        # that group outlives destroy_process_group and its gloo threads live on into the
        # interpreter's shutdown. A thread that drops the last collective's tensors then needs
        # the GIL, which shutdown refuses: "terminate called without an active exception"
        # (SIGABRT) in 7 of 90 two-process runs beside a busy process on 2 cores, after the run
        # had finished. This group is freed with the context, in teardown's caller, and its
        # threads are joined while the interpreter is alive.
        group = dist.new_group(timeout=TIMEOUT)  # its own default would be gloo's 30 minutes
        ctx = DistContext(ctx.rank, ctx.world_size, ctx.local_rank, group=group)
    return ctx, device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier(group=ctx.group)


def broadcast(ctx: DistContext, value: Any) -> Any:
    """Rank 0's value (any picklable object) on every rank."""
    if not ctx.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, group=ctx.group)
    return box[0]


def sum_over_ranks(ctx: DistContext, tensor: torch.Tensor) -> torch.Tensor:
    if ctx.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=ctx.group)
    return tensor


def main_first(ctx: DistContext, action) -> Any:
    """Run `action` on rank 0 while the others wait; its result, or its error, reaches all
    ranks (an error on rank 0 alone would leave the others waiting forever)."""
    result, error = None, None
    if ctx.is_main:
        try:
            result = action()
        except MnistlabError as exc:
            error = str(exc)
    error = broadcast(ctx, error)
    if error is not None:
        raise MnistlabError(error)
    return broadcast(ctx, result)


def first_per_node(ctx: DistContext, action) -> None:
    """Run `action` once per machine (local rank 0) while the other ranks wait, e.g. to fetch
    data into a machine's own cache; an error on any machine reaches every rank."""
    error = None
    if ctx.local_rank == 0:
        try:
            action()
        except MnistlabError as exc:
            error = str(exc)
    errors = [e for e in gather(ctx, error) if e is not None]
    if errors:
        raise MnistlabError(errors[0])


def gather(ctx: DistContext, value: Any) -> list[Any]:
    """Every rank's value, in rank order (on every rank)."""
    if not ctx.active:
        return [value]
    values: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(values, value, group=ctx.group)
    return values


def weights_digest(model: torch.nn.Module) -> str:
    """A short hash of a model's weights, to check that all ranks ended identical."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
