"""Work buffers kept between calls, per thread: what the CPU kernels that go block by block
(the focal losses' :class:`~losskit.functional.classification._Scratch`, the fused box
losses' ``(4, c)`` rows) write into instead of fresh tensors, which glibc maps and the
kernel page-faults in on every call once they reach its ``mmap`` threshold (128 KiB).

A kernel keeps buffers only where :func:`keepable` says so (a plain CPU tensor, not while
``torch.compile`` traces) and never returns one: every result is a tensor of its own. The
lists are per thread (two threads never share a buffer) and per kernel and dtype."""

from __future__ import annotations

import threading

import torch
from torch import Tensor

_store = threading.local()


def keepable(like: Tensor) -> bool:
    """Buffers like ``like`` may be kept: a plain tensor (no subclass) on CPU, eager."""
    return type(like) is Tensor and like.is_cpu and not torch.compiler.is_compiling()


def kept(kernel: str, like: Tensor) -> list[Tensor]:
    """This thread's list of kept buffers of ``kernel`` for ``like``'s dtype (empty at
    first); the kernel fills and resizes it itself (:func:`new_buffer`)."""
    lists: dict[tuple[str, torch.dtype], list[Tensor]] = _store.__dict__.setdefault("lists", {})
    return lists.setdefault((kernel, like.dtype), [])


def new_buffer(like: Tensor, *shape: int) -> Tensor:
    """An uninitialised buffer of ``like``'s dtype and device for a kept list: never an
    inference tensor (one made under ``torch.inference_mode`` could not be written outside
    it)."""
    with torch.inference_mode(False):
        return like.new_empty(shape)


def kept_buffers() -> list[Tensor]:
    """Every buffer this thread keeps (tests, and a look at the memory held)."""
    return [b for bufs in _store.__dict__.get("lists", {}).values() for b in bufs]


def release() -> None:
    """Drop this thread's kept buffers (the next calls allocate them again)."""
    _store.__dict__.pop("lists", None)
