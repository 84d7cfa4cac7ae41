"""Helpers for the hand-written autograd functions (``torch.autograd.Function``)."""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

_T = TypeVar("_T", bound=Tensor | None)


def partial_inputs(*tensors: _T) -> tuple[_T, ...]:
    """Aliases (``t.view_as(t)``; None stays None) of a custom function's saved inputs, for
    its backward pass under ``create_graph=True``, which differentiates a plain formula with
    ``torch.autograd.grad``.

    A backward pass returns each input's *partial* derivative; autograd then follows the
    graph from each input on. ``torch.autograd.grad`` with respect to an alias counts only the
    paths through that alias, which is that partial derivative. With respect to the saved
    tensor itself it would also count the path through another input computed from it (the
    CurricularFace loss's running ``t`` from the embeddings, when its gradient is not
    stopped; a target computed from the prediction; one tensor passed in two roles), and
    autograd would add that path a second time through the gradient returned for the other
    input. The aliases keep their graph to the saved tensors, so second derivatives flow.
    """
    return tuple(t if t is None else t.view_as(t) for t in tensors)  # type: ignore[misc]


def transforms_active() -> bool:
    """A ``torch.func`` transform (``grad``, ``vmap``, ``jacrev``, ``jvp``, ...) is running,
    or a forward-mode level of ``torch.autograd.forward_ad`` is open (never asked under
    ``torch.compile``, which traces the fused paths itself)."""
    return not torch.compiler.is_compiling() and (
        torch._C._are_functorch_transforms_active() or fwAD._current_level >= 0
    )


def vmapping() -> bool:
    """A ``torch.func.vmap`` is running (alone or around other transforms): no value may be
    read (``.item()``, a branch on a tensor), so the checks and fast paths that read one are
    skipped, as under ``torch.compile``."""
    if torch.compiler.is_compiling() or not torch._C._are_functorch_transforms_active():
        return False
    from torch._C._functorch import TransformType
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    return any(i.key() == TransformType.Vmap for i in retrieve_all_functorch_interpreters())


def traced() -> bool:
    """``torch.compile`` traces or ``torch.func.vmap`` batches: no tensor value may be read
    (``.item()``, ``bool(tensor)``), so the checks and the fast paths that read one are
    skipped."""
    return torch.compiler.is_compiling() or vmapping()


def fused_apply(fn: type[torch.autograd.Function], *args: Any) -> Any:
    """``fn.apply(*args)``, or under a ``torch.func`` transform or in forward mode
    ``fn.plain(*args)``.

    losskit's hand-written autograd functions compute their derivative in the forward pass
    and keep it on ``ctx``; torch's transforms refuse such a function (they need the
    ``setup_context`` form, with nothing computed in the forward pass for the backward).
    Each of them therefore has a ``plain`` static method: the same outputs from the same
    arguments as plain differentiable operations (the form its ``create_graph`` backward
    differentiates), which every transform takes. Every fused path is entered through this
    function (``safe_norm``'s ``_NormGrad``, in the ``setup_context`` form, is reached only
    outside transforms); ``tests/test_func_transforms.py`` runs every registered loss under
    ``grad``, ``jvp``, forward mode and ``vmap`` and checks that each function has its
    ``plain``."""
    if transforms_active():
        return fn.plain(*args)  # type: ignore[attr-defined]
    return fn.apply(*args)
