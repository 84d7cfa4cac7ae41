"""The exact Euclidean distance transform in torch: batched, 1-D to 3-D (any number of
trailing spatial dimensions), on whatever device the input is on.

For every element of a binary image, the distance to the nearest zero element of the same
image, as :func:`scipy.ndimage.distance_transform_edt` computes it, but for a whole batch at
once and without leaving the device. It underlies the boundary and Hausdorff losses.

The algorithm is separable (Saito and Toriwaki; Felzenszwalb and Huttenlocher): the squared
distance is computed one axis at a time. The first axis is a 1-D scan (the nearest zero to
the left and to the right of each element); every further axis takes, along each line,
``d2(x) = min_y f(y) + (x - y)^2`` with ``f`` the squared distance so far: the lower
envelope of the parabolas rooted at ``(y, f(y))``. The envelope is built with the classic
stack (each parabola is pushed once and popped at most once), run for every line of the
batch at once: each round, every line either pops its top parabola or pushes its next one,
so at most ``2n`` rounds of vectorised operations build every envelope of an axis of
length ``n``. Each element then takes the last envelope parabola starting at or before it.
On an accelerator (and for short axes) the minimum is instead taken by brute force over all
pairs ``(x, y)``, a block of lines at a time: ``O(n^2)`` work per line in a few large
operations, which is what a GPU does fastest.

Exactness: all squared distances are integers (times the squared spacing); the
intersections are rationals whose comparisons float64 resolves, so the result equals
scipy's to float rounding of the final square root (the tests compare them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import check_tensor

__all__ = ["distance_transform_edt"]

#: axes up to this length take the brute-force minimum on CPU too (fewer, larger operations)
_DENSE_UP_TO = 32


def _scan_first_axis(zero: Tensor, step: float, big: float) -> Tensor:
    """Squared distance to the nearest ``True`` along dim 0 of ``zero`` ``(n, L)`` (``big``
    where a line has none), in float64."""
    n, lines = zero.shape
    dt = torch.float64
    far = torch.full((lines,), -2.0 * n, dtype=dt, device=zero.device)
    left = torch.empty(n, lines, dtype=dt, device=zero.device)
    cur = far
    for x in range(n):  # the last zero at or before x
        cur = torch.where(zero[x], float(x), cur)
        left[x] = cur
    right = torch.empty_like(left)
    cur = -far + 2.0 * n
    for x in range(n - 1, -1, -1):  # the first zero at or after x
        cur = torch.where(zero[x], float(x), cur)
        right[x] = cur
    pos = torch.arange(n, dtype=dt, device=zero.device)[:, None]
    d = torch.minimum(pos - left, right - pos)
    return torch.where(d > n, big, (d * step) ** 2)


def _lower_envelope(f: Tensor, step: float) -> Tensor:
    """``min_y f[y] + step^2 (x - y)^2`` along dim 0 of ``f`` ``(n, L)`` (float64)."""
    n, lines = f.shape
    dev, dt = f.device, f.dtype
    pos = torch.arange(n + 1, device=dev, dtype=dt) * step
    # h[u] = f[u] + pos[u]^2; row n is a dummy read by the lines that are done
    h = torch.zeros(n + 1, lines, device=dev, dtype=dt)
    h[:n] = f + (pos[:n] * pos[:n])[:, None]
    hf = h.view(-1)
    size = (n + 1) * lines
    below = torch.zeros(size, device=dev, dtype=torch.long)  # the top under u when u was pushed
    start = torch.empty(size, device=dev, dtype=dt)  # where u's parabola starts to be lowest
    alive = torch.ones(size, device=dev, dtype=torch.bool)  # u is still on its stack
    cols = torch.arange(lines, device=dev)
    start[:lines] = -math.inf
    tv = torch.zeros(lines, device=dev, dtype=torch.long)  # the top parabola of each line
    tidx = cols.clone()  # its flat index
    th, tz, tp = h[0].clone(), start[:lines].clone(), pos[tv]
    cu = torch.ones(lines, device=dev, dtype=torch.long)  # the next parabola to push
    cidx = cols + lines
    rounds = 0
    while True:
        # at least n - 1 rounds (one push per parabola), at most 2n - 2
        if rounds >= n - 1 and (rounds - n + 1) % 8 == 0 and not bool((cu < n).any()):
            break
        rounds += 1
        active = cu < n
        hc = hf.index_select(0, cidx)
        # where the new parabola cu becomes lower than the top one (cu > tv: no 0 division)
        s = (hc - th) / (2.0 * (pos.index_select(0, cu) - tp))
        pop = (s <= tz) & active
        push = active & ~pop
        # written for every line: a line that pops (or is done) rewrites these entries of
        # cu (or of the dummy row) before they are read
        below.index_put_((cidx,), tv)
        start.index_put_((cidx,), s)
        alive.index_put_((tidx,), ~pop)
        tv = torch.where(pop, below.index_select(0, tidx), torch.where(push, cu, tv))
        tidx = tv * lines + cols
        th, tz, tp = hf.index_select(0, tidx), start.index_select(0, tidx), pos.index_select(0, tv)
        cu = cu + push
        cidx = cidx + push * lines
    # each x takes the last surviving parabola that starts at or before it
    first = (start[: n * lines].view(n, lines) / step).ceil().clamp(0, n)
    first = torch.where(alive[: n * lines].view(n, lines), first, n).long()
    mark = torch.full((n + 1, lines), -1, device=dev, dtype=torch.long)
    index = torch.arange(n, device=dev)[:, None].expand(n, lines)
    mark.scatter_reduce_(0, first, index, "amax")
    owner = mark[:n]
    for x in range(1, n):
        torch.maximum(owner[x - 1], owner[x], out=owner[x])
    fo = f.reshape(-1).index_select(0, (owner * lines + cols).reshape(-1)).view(n, lines)
    d = pos[:n, None] - pos.index_select(0, owner.reshape(-1)).view(n, lines)
    return d * d + fo


def _axis_first(x: Tensor, dim: int) -> tuple[Tensor, torch.Size]:
    moved = x.movedim(dim, 0)
    return moved.reshape(moved.shape[0], -1).contiguous(), moved.shape


def distance_transform_edt(
    x: Tensor,
    *,
    spatial_dims: int = 2,
    spacing: float | Sequence[float] | None = None,
    squared: bool = False,
) -> Tensor:
    r"""Exact Euclidean distance transform of a batch of binary images, in torch.

    For every non-zero element, the distance to the nearest zero element of its own image
    (the last ``spatial_dims`` dimensions are the image, the leading ones the batch); zero
    elements get 0. This is :func:`scipy.ndimage.distance_transform_edt` computed for the
    whole batch at once on the input's device (separable passes; see the module docstring).
    An image without any zero element has no distance to give: it gets ``inf`` everywhere
    (scipy returns distances to a point outside the image there).

    Args:
        x: the images ``(*, S_1, ..., S_d)``; any dtype, non-zero = object.
        spatial_dims: how many trailing dimensions form an image, ``d >= 1``; default 2.
        spacing: the size of an element along each spatial dimension (a number for all, or
            one per dimension), ``> 0``; default 1.
        squared: return the squared distance (exact integers for unit spacing); default
            ``False``.

    Returns:
        The distances, of ``x``'s shape: float64 if ``x`` is float64, float32 otherwise. No gradient flows (the transform is
        piecewise constant in ``x``).

    Raises:
        TypeError: ``x`` not a tensor, a complex ``x``.
        ValueError: ``spatial_dims`` not in ``[1, x.dim()]``, a bad ``spacing``.

    Example:
        >>> import torch
        >>> distance_transform_edt(torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]))
        tensor([[0.0000, 1.0000, 2.0000, 3.0000],
                [1.0000, 1.4142, 2.2361, 3.1623]])
    """
    fn = "distance_transform_edt"
    check_tensor(fn, "x", x)
    if x.is_complex():
        raise TypeError(f"{fn}: x must be real; got dtype {x.dtype}")
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int):
        raise TypeError(f"{fn}: spatial_dims must be an int; got {type(spatial_dims).__name__}")
    if not 1 <= spatial_dims <= x.dim():
        raise ValueError(
            f"{fn}: spatial_dims must lie in [1, x.dim()] = [1, {x.dim()}]; got {spatial_dims}"
        )
    if spacing is None:
        steps = [1.0] * spatial_dims
    elif isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        steps = [float(spacing)] * spatial_dims
    elif (
        isinstance(spacing, Sequence)
        and len(spacing) == spatial_dims
        and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in spacing)
    ):
        steps = [float(s) for s in spacing]
    else:
        raise TypeError(
            f"{fn}: spacing must be a number or {spatial_dims} numbers; got {spacing!r}"
        )
    if not all(math.isfinite(s) and s > 0 for s in steps):
        raise ValueError(f"{fn}: spacing must be finite and > 0; got {spacing!r}")
    out_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    first = x.dim() - spatial_dims
    if x.numel() == 0:
        return torch.zeros(x.shape, dtype=out_dtype, device=x.device)
    # larger than any squared distance in the image: "no zero on this line"
    extent = sum((s * n) ** 2 for s, n in zip(steps, x.shape[first:], strict=True))
    big = 4.0 * (extent + 1.0)
    with torch.no_grad():
        zero, shape = _axis_first(x.detach() == 0, first)
        f = _scan_first_axis(zero, steps[0], big).view(shape).movedim(0, first)
        for k in range(1, spatial_dims):
            dim = first + k
            g, shape = _axis_first(f, dim)
            # the stack form's loop depends on the data: torch.compile traces the dense form
            if (
                g.device.type == "cpu"
                and g.shape[0] > _DENSE_UP_TO
                and not torch.compiler.is_compiling()
            ):
                g = _lower_envelope(g, steps[k])
            else:
                # float32 holds every value exactly while they stay below 2^24
                exact32 = big + extent < 2.0**24 and all(s == 1.0 for s in steps)
                g = _lower_envelope_dense(g.float() if exact32 else g, steps[k]).double()
            f = g.view(shape).movedim(0, dim)
        none = f >= big  # an image without any zero element
        out = f if squared else f.sqrt()
        out = torch.where(none, math.inf, out)
    return out.to(out_dtype).contiguous()


def _lower_envelope_dense(f: Tensor, step: float, chunk: int = 1 << 24) -> Tensor:
    """The same minimum by brute force over every pair ``(x, y)``, a block of lines at a
    time (at most ``chunk`` pairs): ``O(n^2)`` work per line but a handful of large
    operations, the faster form on an accelerator and for short axes."""
    n, lines = f.shape
    pos = torch.arange(n, device=f.device, dtype=f.dtype) * step
    sq = (pos[:, None] - pos[None, :]) ** 2  # (x, y)
    out = torch.empty_like(f)
    block = max(1, chunk // (n * n))
    for a in range(0, lines, block):
        part = f[:, a : a + block]  # (y, l)
        out[:, a : a + block] = (part[None, :, :] + sq[:, :, None]).amin(1)
    return out
