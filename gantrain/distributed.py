"""Data-parallel training on torch.distributed, exact for the double-backprop rules.

PyTorch's DistributedDataParallel cannot take the second backward pass of ConOpt and JARE, and
averaging each worker's regularizer gradient is not the regularizer of the averaged gradient
(½‖mean vᵢ‖² ≠ mean ½‖vᵢ‖²). So gantrain does not wrap the models: the update rules reduce their
gradients through ``UpdateRule.reduce`` (an all-reduce mean here), then take every
vector-Jacobian product with the *global* gradient as the cotangent and reduce those
(``SimultaneousRule.direction``). The result equals one process on the global batch.

The global batch (``batch_size``) is the same for any world size W that divides it: every process
draws the same global batch stream and keeps its contiguous rows (``Shard.rows``), so the data do
not depend on W. Rank 0 alone writes files and talks to wandb.

Launch: ``torchrun --nproc_per_node=N -m gantrain.cli ...`` (RANK, WORLD_SIZE, LOCAL_RANK), or
SLURM with one task per GPU (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR from the node
list when unset). Backend nccl on CUDA, gloo on CPU; device cuda:LOCAL_RANK.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import warnings
import zlib
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist
from torch import nn

from gantrain.world import env_world

# SyncBatchNorm needs the differentiable all-reduce (its backward is again an all-reduce); the
# suggested replacement, _functional_collectives.all_reduce, has no autograd.
warnings.filterwarnings("ignore", message="torch.distributed.nn.functional.all_reduce is deprecated")


@dataclass(frozen=True)
class Shard:
    """This process's rows of every global batch."""

    rank: int = 0
    world: int = 1

    def rows(self, n: int, parts: int = 1) -> slice | torch.Tensor | None:
        """Rows of a global batch of ``n`` that this process keeps: for each of ``parts`` equal
        parts of the batch (the unbiased estimate's half-batches), its contiguous 1/W of it.
        None in one process (keep everything)."""
        if self.world == 1:
            return None
        if n % (parts * self.world):
            raise ValueError(f"a global batch of {n} does not split into {parts} part(s) "
                             f"x {self.world} processes")
        part, k = n // parts, n // (parts * self.world)
        if parts == 1:
            return slice(self.rank * k, (self.rank + 1) * k)
        return torch.cat([torch.arange(p * part + self.rank * k, p * part + (self.rank + 1) * k)
                          for p in range(parts)])

    def take(self, t: torch.Tensor, parts: int = 1) -> torch.Tensor:
        rows = self.rows(t.shape[0], parts)
        if rows is None:
            return t
        return t[rows] if isinstance(rows, slice) else t.index_select(0, rows.to(t.device))


SINGLE = Shard()


# --- the process group ----------------------------------------------------------------------
_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def expand_nodelist(nodelist: str) -> list[str]:
    """The host names of a SLURM compressed node list, in order, as ``scontrol show hostnames``
    gives them: ``gpu-a[01-02,07],gpu-b3`` -> gpu-a01, gpu-a02, gpu-a07, gpu-b3. Several bracket
    groups in one name expand to their cartesian product (``x[1-2]y[1-2]`` -> x1y1, x1y2, x2y1,
    x2y2); a range keeps the zero padding of its first number."""
    hosts: list[str] = []
    for name in _split_top_level(nodelist):
        literals = _BRACKET.split(name)[::2]
        if any(c in lit for lit in literals for c in "[]"):
            raise ValueError(f"node list {nodelist!r}: unbalanced or nested brackets in {name!r}")
        groups = [_expand_ranges(g, nodelist) for g in _BRACKET.findall(name)]
        for combo in itertools.product(*groups):
            hosts.append("".join(lit + num for lit, num in zip(literals, (*combo, ""))))
    return hosts


def _split_top_level(nodelist: str) -> list[str]:
    """The comma-separated names of a node list, ignoring the commas inside brackets."""
    names, depth, cur = [], 0, ""
    for c in nodelist.strip():
        depth += (c == "[") - (c == "]")
        if c == "," and depth == 0:
            names.append(cur)
            cur = ""
        else:
            cur += c
    names.append(cur)
    if any(not n for n in names) and nodelist.strip():
        raise ValueError(f"node list {nodelist!r}: empty name between commas")
    return [n for n in names if n]


def _expand_ranges(spec: str, nodelist: str) -> list[str]:
    """``01-03,07`` -> 01, 02, 03, 07 (the padding of each range's first number)."""
    out = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise ValueError(f"node list {nodelist!r}: bad range {part!r} in [{spec}] "
                             "(allowed: N, N-M with N <= M, comma-separated)")
        lo, hi = m[1], m[2] if m[2] is not None else m[1]
        out += [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    return out


def slurm_hostnames(nodelist: str) -> list[str]:
    """The host names of ``nodelist``: ``scontrol show hostnames`` where scontrol is on PATH (the
    site's own parser), else ``expand_nodelist``."""
    if shutil.which("scontrol"):
        try:
            out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.split()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return expand_nodelist(nodelist)


def _slurm_master() -> str:
    """The first host of the job step's node list (task 0 runs there), else loopback."""
    nodes = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST", "")
    hosts = slurm_hostnames(nodes) if nodes.strip() else []
    return hosts[0] if hosts else "127.0.0.1"


def _slurm_port() -> int:
    """A port every task of the step derives alike without talking: 20000-29999 (unprivileged,
    below Linux's ephemeral range 32768-60999), set by job and step id so that two jobs (or two
    concurrent steps of one job) sharing a node rarely pick the same one."""
    key = f"{os.environ.get('SLURM_JOB_ID', '')}.{os.environ.get('SLURM_STEP_ID', '')}"
    return 20000 + zlib.crc32(key.encode()) % 10000


def init(device: str = "cpu") -> Shard:
    """Join the process group named by the environment (once); return this process's shard."""
    rank, world, local = env_world()
    if world == 1:
        return SINGLE
    if not dist.is_initialized():
        if "RANK" not in os.environ:   # SLURM without torchrun
            os.environ.setdefault("MASTER_ADDR", _slurm_master())
            os.environ.setdefault("MASTER_PORT", str(_slurm_port()))
            os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local))
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return Shard(dist.get_rank(), dist.get_world_size())


def local_device(device: str) -> str:
    """cuda -> cuda:LOCAL_RANK under torch.distributed."""
    if device == "cuda" and env_world()[1] > 1:
        return f"cuda:{env_world()[2]}"
    return device


def world() -> Shard:
    return Shard(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else SINGLE


# --- collectives ----------------------------------------------------------------------------
def all_reduce_mean(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The mean over processes of each tensor, in one all-reduce of a flat buffer (detached: the
    rules take their second derivatives of the local graph, with these as cotangents)."""
    if not tensors:
        return []
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    out, i = [], 0
    for t in tensors:
        out.append(flat[i:i + t.numel()].view_as(t))
        i += t.numel()
    return out


def any_true(flag: bool) -> bool:
    """True on every process when it is true on any (divergence decisions stay identical)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(obj):
    """Rank 0's ``obj`` on every process."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group in step with the others (a barrier, then its destruction), so that
    no process exits while another's gloo connections still expect it: one rank aborting at exit
    (SIGABRT, after the run had completed) was seen once under torchrun on a loaded machine."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def average_buffers(modules: Sequence[nn.Module]) -> None:
    """Mean of the floating-point buffers (batch-norm running statistics) over processes, so that
    every process (and rank 0's checkpoint) holds the same ones. The running means are linear in
    the batch means, so theirs equal one process's on the global batch."""
    if not dist.is_initialized():
        return
    bufs = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    if bufs:
        for b, r in zip(bufs, all_reduce_mean(bufs)):
            b.copy_(r)


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Every process's rows of ``t`` (the same trailing shape), concatenated in rank order."""
    if not dist.is_initialized():
        return t
    w = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(w)]
    dist.all_gather(sizes, torch.tensor([t.shape[0]], device=t.device))
    sizes = [int(s) for s in sizes]
    padded = t.new_zeros((max(sizes), *t.shape[1:]))
    padded[:t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(w)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


# --- synchronized batch norm, twice differentiable --------------------------------------------
class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch: the batch moments are all-reduced with
    ``torch.distributed.nn.functional.all_reduce``, which is differentiable (its backward is again
    an all-reduce), so the double-backprop rules can differentiate through it twice.
    (``torch.nn.SyncBatchNorm``'s backward is a fused kernel that cannot be differentiated again.)
    Every process must hold the same number of rows."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        w = dist.get_world_size()
        dims = [0, *range(2, x.dim())]
        count = x.numel() // x.shape[1] * w
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = all_reduce(x.mean(dims)) / w          # two passes: no E[x²] − E[x]² cancellation
        var = all_reduce((x - mean.reshape(shape)).square().mean(dims)) / w
        y = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * count / max(count - 1, 1), m)
        return y

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """``module`` with every BatchNorm layer replaced by this one (parameters and buffers
        kept)."""
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, cls):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats)
            new.load_state_dict(module.state_dict())
            new.train(module.training)
            ref = module.weight if module.affine else module.running_mean
            if ref is not None:
                new.to(device=ref.device, dtype=ref.dtype)
            return new
        for name, child in module.named_children():
            setattr(module, name, cls.convert(child))
        return module
