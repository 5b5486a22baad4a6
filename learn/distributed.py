"""Data-parallel training on torch.distributed: ``glep train`` under ``torchrun``.

Each rank takes a contiguous shard of every global batch, computes its gradient (however the
rule produced it: ``backward()`` or an EP/HEL/RHEL estimate written into ``.grad``), and the
shards' gradients are summed with ``all_reduce``, each weighted by its share of the batch:
the result is the global batch's mean gradient, whatever the shard sizes. Every rank then
takes the same optimizer step; rank 0 alone writes logs, checkpoints and tables. The backend
is gloo on CPUs and nccl on CUDA devices; the device is ``glep train --device``::

    torchrun --standalone --nproc-per-node=2 --no-python glep train FILE --data digits

Outside ``torchrun`` (no ``WORLD_SIZE`` in the environment) there is one rank, and every
method is the identity.

>>> world = World.current()
>>> world.size, world.shard(list(range(5)))
(1, [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import atexit
import os

_WORLD = None


def torch_device(name: str = "cpu"):
    """``torch.device(name)`` once checked usable here (``glep train --device``): a clear
    error naming the option otherwise."""
    import torch

    from glep.derive.errors import DataError

    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, TypeError, AssertionError) as error:
        raise DataError(f"--device {name!r} is not usable here ({str(error).splitlines()[0]}): "
                        f"use --device cpu, or cuda where a CUDA GPU and a CUDA build of "
                        f"torch exist") from None
    return device


class World:
    """This process's place among the ranks of a run."""

    def __init__(self, rank: int = 0, size: int = 1):
        self.rank, self.size = rank, size

    @classmethod
    def current(cls, device: str = "cpu") -> World:
        """The process group of ``torchrun`` (initialized once), or a single rank."""
        global _WORLD
        if _WORLD is None:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            if size > 1:
                import torch.distributed as dist

                if not dist.is_initialized():
                    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
                    # Torn down before the interpreter exits: a process group left to the C++
                    # destructors can abort the rank after its work is done.
                    atexit.register(dist.destroy_process_group)
                _WORLD = cls(dist.get_rank(), dist.get_world_size())
            else:
                _WORLD = cls()
        return _WORLD

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    def bounds(self, count: int) -> tuple[int, int]:
        """This rank's slice ``[start, stop)`` of ``count`` items (contiguous, sizes differ by
        at most one)."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    def shard(self, items):
        start, stop = self.bounds(len(items))
        return items[start:stop]

    def mean(self, tensors, share: float) -> None:
        """In place: ``tensors`` (one rank's mean over its shard, a ``share`` of the batch)
        become the global batch's mean, on every rank."""
        if self.size == 1:
            return
        import torch.distributed as dist

        for t in tensors:
            t.mul_(share)
            dist.all_reduce(t, op=dist.ReduceOp.SUM)

    def mean_scalar(self, value: float, share: float) -> float:
        if self.size == 1:
            return value
        import torch

        t = torch.tensor([value * share], dtype=torch.float64)
        self.mean([t], 1.0)
        return float(t)
