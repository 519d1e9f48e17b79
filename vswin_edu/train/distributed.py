"""DistributedDataParallel plumbing: join the ``torchrun`` process group (gloo on CPU, nccl on
GPU) and add numbers over processes.  Outside ``torchrun`` everything is a no-op."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .device import resolve_device


def setup_distributed(device_name: str) -> tuple[int, int, torch.device, bool]:
    """``(rank, world_size, device, created_here)``; joins the ``torchrun`` process group if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return 0, 1, device, False
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device, created


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum numbers over all processes (a no-op outside ``torchrun``)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
