"""Helpers for the hand-written autograd functions (``torch.autograd.Function``)."""

from __future__ import annotations

from typing import TypeVar

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
