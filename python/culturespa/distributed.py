"""Several processes on one stage, launched by torchrun or Slurm (docs/distributed.md).

The process group is C++ (``culturespa.Distributed``: c10d's TCPStore and
ProcessGroupGloo); this module adds what is Python's: reusing a
``torch.distributed`` that the program has already initialised.
"""
import os
import sys
from typing import Optional

from . import _core
from ._core import Distributed, distributed_group, distributed_has_nccl, distributed_requested, distributed_shutdown

__all__ = [
    "Distributed",
    "distributed_group",
    "distributed_has_nccl",
    "distributed_init",
    "distributed_requested",
    "distributed_shutdown",
]


def _torch_distributed():
    """torch.distributed when this program initialised it, else None (never imports it itself)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def distributed_init(*, backend: Optional[str] = None, join_timeout: Optional[float] = None,
                     timeout: Optional[float] = None, config: Optional[str] = None) -> Optional[Distributed]:
    """Makes culturespa's default process group and returns it (None for one process).

    From the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT) as ``torchrun`` and ``srun`` set it. When this program has
    already initialised ``torch.distributed``, culturespa reuses its rank and
    world size, and joins its store at MASTER_ADDR:MASTER_PORT as a client
    (under the key prefix ``culturespa/``) instead of serving one: it still
    makes its own gloo group, so that its barriers never interleave with the
    program's collectives. ``config`` is compared across ranks at start (by
    hash); different configs are refused on every rank with a ValueError.
    Arguments left None take the C++ defaults (``_core.distributed_init``).
    """
    # None: the C++ default (DistributedOptions).
    given = {k: v for k, v in dict(backend=backend, join_timeout=join_timeout, timeout=timeout,
                                   config=config).items() if v is not None}
    dist = _torch_distributed()
    if dist is None:
        return _core.distributed_init(**given)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if world_size > 1 and not (os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT")):
        raise ValueError("distributed: torch.distributed is initialised, but MASTER_ADDR/MASTER_PORT are not set: "
                         "culturespa joins the store there (init torch.distributed with init_method='env://')")
    return _core.distributed_init(rank=rank, world_size=world_size, store_hosted=True, **given)
