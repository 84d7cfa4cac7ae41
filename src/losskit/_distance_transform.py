"""The exact Euclidean distance transform in torch: batched, 1-D to 3-D (any number of
trailing spatial dimensions), on whatever device the input is on.

For every element of a binary image, the distance to the nearest zero element of the same
image, as :func:`scipy.ndimage.distance_transform_edt` computes it, but for a whole batch at
once and without leaving the device. It underlies the boundary and Hausdorff losses.

The algorithm is separable (Saito and Toriwaki): the squared distance is computed one axis
at a time. The last axis is a 1-D scan: the nearest zero to the left and to the right of each
element, two cumulative maxima. Every further axis takes, along each line,
``d2(x) = min_k f(x - k) + k^2`` (``k`` in ``[-(n-1), n-1]``, times the squared spacing) with
``f`` the squared distance so far, as a windowed minimum that grows ``|k|`` one step at a
time and stops as soon as ``k^2`` exceeds what is left to improve:

* a *dense* round does ``|k| = k`` for every element at once (``f + k^2`` once, then a
  minimum with each of its two shifted views, over the whole block, contiguous memory); on
  CPU the rounds run on blocks of about ``2^18`` elements (each block stops on its own);
* once fewer than ``2 %`` of the elements can still improve (an element whose value is at
  most ``k^2`` is final: every later candidate costs more; the share is estimated on every
  32nd position of the lines), the rest go on as a *sparse* list: per round the next four
  offsets gathered on each side and a minimum, the finished elements dropped as they
  finish. A dense round costs about 0.25 ns per element of its block, a sparse one about 20
  small operations: the switch comes late.

So the work is ``O(sum over elements of their distance)`` rather than ``O(n)`` per element,
in a few hundred large tensor operations. Where the distances are long for most of an axis
(few zeros: a dense phase still running after ``48`` rounds) the axis is done instead by the
lower envelope of the parabolas rooted at ``(y, f(y))`` (Felzenszwalb and Huttenlocher), a
stack per line run for every line at once (each round every line pops its top parabola or
pushes its next one: at most ``2n`` rounds). On an accelerator the minimum is taken by
brute force over all pairs ``(x, y)``, a block of lines at a time. Under ``torch.compile``,
whose graphs cannot hold the data-dependent loops, the transform is one operator of its
own (``losskit::distance_transform_edt``): the compiled graph calls it, without a graph
break, and it runs the algorithm above.

On CPU three steps run in numpy on the tensors' own memory, where torch's CPU kernels are
slow for them: the count of the sampled positions that can still improve, the list of the
open elements (a comparison and ``flatnonzero``: 0.2 ms against torch's 0.9 ms over 524,288
elements) and the final square root (torch's CPU root of 0 costs 6-10x that of other
values, and its results are not correctly rounded).

Exactness: with unit spacing all squared distances are integers, computed in int32, and on
CPU the root is correctly rounded, so the result is bit-equal to scipy's (float64) or to its
rounding (float32); with another spacing every candidate ``f(y) + (k s)^2`` is formed in
float64 as scipy forms it, so the result equals scipy's to float rounding (the tests compare
them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ._checks import check_tensor

__all__ = ["distance_transform_edt"]

#: axes up to this length take the brute-force minimum (fewer, larger operations)
_DENSE_UP_TO = 32
#: the windowed minimum turns sparse when fewer than this share of elements can improve
#: (2 % measured as fast as 1 % and 5-12 % faster than 8 % on 8 x 256^2 and 96^3)
_SPARSE_BELOW = 0.02
#: a dense phase still running at this round: the axis is done by the stack envelope
_STACK_FROM = 48
#: offsets per sparse round (on each side): 4 measured 12 % (8 x 256^2) and 22 % (96^3) faster
#: than 1, and as fast as 8 or faster (each element gathers twice this many candidates)
_SPARSE_STEP = 4
#: the dense rounds' stopping test counts every this-many-th position of each line
_SAMPLE = 32
#: CPU only: the dense rounds run on blocks of about this many elements; an accelerator
#: takes the whole tensor as one block. 2^18 measured 15-20 % faster than 2^16 (8 x 256^2 and
#: 96^3, interleaved, one thread, AMD EPYC): fewer, larger operations; the blocks' own stop
#: still spares the regions whose distances are short. 2^19 was 7-17 % faster again on a warm
#: heap, but its block-size work buffers then took 800-2,400 page faults per call when other
#: work ran between calls (0-400 at 2^18)
_CPU_BLOCK = 1 << 18
#: CPU only: the last axis's scan runs on blocks of about this many elements
_SCAN_BLOCK = 1 << 16


def _scan_last(zero: Tensor, far: int, step: float, dtype: torch.dtype) -> Tensor:
    """Squared distance to the nearest ``True`` along the last dim of ``zero`` (``>= big``,
    the caller's "none", where a line has none: ``far * step >= sqrt(big)``).

    On CPU a block of lines at a time (about ``_SCAN_BLOCK`` elements) into the one full-size
    result: the dozen temporaries of the scan (two of them int64 indices) are then a block's
    size and reused from block to block, where whole-size ones were fresh pages, page-faulted
    in on every call."""
    n = zero.shape[-1]
    lines = zero.reshape(-1, n)
    out = torch.empty(lines.shape, dtype=dtype, device=zero.device)
    pos = torch.arange(far, far + n, dtype=dtype, device=zero.device)
    rpos = pos.flip(0)
    rows = max(1, _SCAN_BLOCK // n) if zero.device.type == "cpu" else max(lines.shape[0], 1)
    for a in range(0, lines.shape[0], rows):
        zb = lines[a : a + rows]
        # far + the last zero at or before x (0: none), and far + (n - 1 - the first at or after)
        left = torch.mul(zb, pos).cummax(-1).values
        right = torch.mul(zb.flip(-1), pos).cummax(-1).values.flip(-1)
        d = torch.minimum(left.neg_().add_(pos), right.neg_().add_(rpos), out=left)
        if step != 1.0:  # >= far where the line has no zero
            d = d.mul_(step)
        torch.mul(d, d, out=out[a : a + rows])
    return out.view(zero.shape)


def _blocks(outer: int, n: int, inner: int, device: torch.device) -> list[tuple[slice, slice]]:
    """Blocks of ``(outer, n, inner)`` for the dense rounds: whole lines, about
    ``_CPU_BLOCK`` elements each on CPU, one block on an accelerator."""
    if device.type != "cpu":
        return [(slice(None), slice(None))]
    if n * inner <= _CPU_BLOCK:
        g = max(1, _CPU_BLOCK // (n * inner))
        return [(slice(a, a + g), slice(None)) for a in range(0, outer, g)]
    w = max(16, _CPU_BLOCK // n)
    return [(slice(a, a + 1), slice(b, b + w)) for a in range(outer) for b in range(0, inner, w)]


def _windowed(f: Tensor, dim: int, step: float, big: float, into: Tensor | None = None
              ) -> Tensor | None:  # fmt: skip
    """``min_k f[x - k] + (k step)^2`` along ``dim`` of ``f`` (the windowed form of the
    module docstring), or ``None`` when the distances are too long for it (few zeros).
    ``into``: a contiguous tensor of ``f``'s shape and dtype to write the result into (a
    buffer the caller no longer needs), else a new one."""
    shape = f.shape
    n = shape[dim]
    outer, inner = math.prod(shape[:dim]), math.prod(shape[dim + 1 :])
    f3 = f.reshape(outer, n, inner)
    # each block starts from its copy of f (an int16 block writes its result back at its end)
    out = torch.empty_like(f3) if into is None else into.view(outer, n, inner)
    s2 = step * step
    unit = s2 == 1.0
    # lines without a zero never improve (only where an image or a slice has no zero)
    fmax = f3.amax()
    dead = f3.amin(1, keepdim=True) >= big if fmax >= big else None
    # CPU, unit spacing (exact int32): a block whose values stay below `top` takes its dense
    # rounds in int16 (about 1.6x as fast per operation): the largest candidate of a dense
    # round, a value plus k^2, then still fits, and every result is exact
    kmax = min(n - 1, _STACK_FROM + 1)  # the largest k of a dense round
    top = 2**15 - 1 - kmax * kmax if f.dtype == torch.int32 and f.device.type == "cpu" else 0
    narrow_all = top > 0 and int(fmax) < top
    half: Tensor | None = None  # the int16 blocks' buffers, allocated for the first one
    rounds = torch.zeros(outer, 1, inner, dtype=torch.int32, device=f.device)
    blocks = _blocks(outer, n, inner, f.device)
    # the blocks' work buffer, one block's size (the first block is the largest)
    tmp = torch.empty(out[blocks[0][0], :, blocks[0][1]].numel(), dtype=f.dtype,
                      device=f.device)  # fmt: skip
    for bo, bi in blocks:
        o, fb = out[bo, :, bi], f3[bo, :, bi]
        t = tmp[: o.numel()].view(o.shape)
        wide = o
        if narrow_all or (top > 0 and int(fb.amax()) < top):
            if half is None:
                half = torch.empty(3, tmp.numel(), dtype=torch.int16, device=f.device)
            fb16, o, t = (h[: wide.numel()].view(wide.shape) for h in half)
            fb = fb16.copy_(fb)
        o.copy_(fb)
        # how many can still improve is estimated on every _SAMPLE-th position of the lines
        # (a bool comparison and its count cost more than a round): the estimate only decides
        # when the dense rounds stop, and the sparse rounds then finish whatever is left
        sample = o[:, ::_SAMPLE]
        share = sample.numel() / max(o.numel(), 1)
        ndead = 0 if dead is None else int(dead[bo, :, bi].count_nonzero()) * sample.shape[1]
        # on CPU counted by numpy on the same memory: torch's comparison into a bool tensor
        # and its count cost 3-4x as much on these small strided views
        above = _count_above_np if o.device.type == "cpu" else _count_above
        k = 1
        while k < n:
            thr = k * k if unit else k * k * s2
            if k % 2 == 1:  # what is at most k^2 is final
                left = (above(sample, thr) - ndead) / share
                if left < _SPARSE_BELOW * o.numel():
                    break
                if k >= _STACK_FROM:
                    return None
            # f + k^2 once, then its two shifted views: from the left and from the right
            m = n - k
            torch.add(fb, thr, out=t)
            torch.minimum(o[:, k:], t[:, :m], out=o[:, k:])
            torch.minimum(o[:, :m], t[:, k:], out=o[:, :m])
            k += 1
        if o is not wide:
            wide.copy_(o)
        rounds[bo, :, bi] = k
    # sparse rounds: the elements that can still improve, each from its block's round on
    final = (rounds * rounds).to(f.dtype) if unit else rounds.double() ** 2 * s2
    never = rounds >= n if dead is None else (rounds >= n) | dead
    final.masked_fill_(never, math.inf if f.is_floating_point() else torch.iinfo(f.dtype).max)
    idx = _open(out, final)  # the flat indices of the elements that can still improve
    if idx.numel() == 0:
        return out.view(shape)
    at = idx.div(inner, rounding_mode="floor").remainder_(n)  # the position on the line
    lo = idx - at * inner  # the line's first element
    hi = lo + (n - 1) * inner  # and its last
    flat, ff = out.view(-1), f3.reshape(-1)
    cur = flat.index_select(0, idx)
    line_col = idx.div(n * inner, rounding_mode="floor").mul_(inner).add_(idx.remainder(inner))
    kk = rounds.view(-1).index_select(0, line_col).to(f.dtype)
    # _SPARSE_STEP offsets per round, k .. k + _SPARSE_STEP - 1 on each side: a round is
    # about 20 small operations whatever its width, so a wider one takes fewer (an element
    # that finishes inside a round reads a few candidates more). Clamped at the line's ends:
    # a clamped candidate costs more than the one at the true offset, already taken.
    offs = torch.arange(_SPARSE_STEP, device=f.device)
    count = idx.numel()
    while count:
        ks = kk.long()[:, None] + offs  # (M, B)
        reach = ks * inner
        pl = torch.maximum(idx[:, None] - reach, lo[:, None])
        pr = torch.minimum(idx[:, None] + reach, hi[:, None])
        cand = torch.minimum(ff.take(pl), ff.take(pr))
        cand.add_((ks * ks).to(f.dtype) if unit else ks.to(f.dtype).square_().mul_(s2))
        torch.minimum(cur, cand.amin(1), out=cur)
        kk += _SPARSE_STEP
        keep = (cur > (kk * kk if unit else kk * kk * s2)) & (kk < n)
        left = int(keep.count_nonzero())
        if left < 0.7 * count:  # write back (the finished are final) and drop the finished
            flat.index_copy_(0, idx, cur)
            sel = keep.nonzero().squeeze(1)
            idx, cur, kk, lo, hi = (v.index_select(0, sel) for v in (idx, cur, kk, lo, hi))
            count = left
    flat.index_copy_(0, idx, cur)
    return out.view(shape)


def _count_above(sample: Tensor, thr: float) -> int:
    """How many elements of ``sample`` exceed ``thr``."""
    return int((sample > thr).count_nonzero())


def _count_above_np(sample: Tensor, thr: float) -> int:
    """:func:`_count_above` for a CPU tensor, by numpy on the same memory."""
    return int(np.count_nonzero(sample.numpy() > thr))


def _open(out: Tensor, final: Tensor) -> Tensor:
    """The flat indices (int64, ascending) of ``out > final`` (``final`` broadcast).

    On CPU numpy finds them on the same memory: torch's comparison into a bool tensor and its
    ``nonzero`` cost 0.9 ms over 524,288 elements on an AMD EPYC, numpy's 0.2 ms."""
    if out.device.type == "cpu":
        hit = np.flatnonzero(out.numpy() > final.numpy())
        return torch.from_numpy(hit.astype(np.int64, copy=False))
    return (out > final).view(-1).nonzero().squeeze(1)


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
    dtype: torch.dtype | None = None,
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
        dtype: the result's dtype, ``torch.float32`` or ``torch.float64``; default float64
            for a float64 ``x``, else float32. A bool or integer mask with ``dtype=float64``
            gives float64 distances without a float64 copy of the mask.

    Returns:
        The distances, of ``x``'s shape, in ``dtype``. No gradient flows (the transform is
        piecewise constant in ``x``).

    Raises:
        TypeError: ``x`` not a tensor, a complex ``x``, a ``dtype`` other than float32 or
            float64.
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
    if dtype is None:
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    elif dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{fn}: dtype must be torch.float32 or torch.float64; got {dtype!r}")
    double = dtype == torch.float64
    if torch.compiler.is_compiling():
        # the transform is data-dependent loops: the compiled graph calls it as one opaque
        # operation that runs the eager algorithm (see _edt_op)
        return _edt_op(x.detach(), spatial_dims, steps, squared, double)
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return _through_transforms(x, spatial_dims, steps, squared, double)
    return _edt(x.detach(), spatial_dims, steps, squared, double)


def _through_transforms(
    x: Tensor, spatial_dims: int, steps: list[float], squared: bool, double: bool
) -> Tensor:
    """The transform of a tensor that ``torch.func`` transforms wrap (``grad``, ``vmap``, and
    their compositions): a constant of its input (no gradient flows through it), computed
    on the plain values with the transforms off (a wrapper has no storage for the NumPy
    passes, and the passes write in place), each ``vmap`` dimension moved to the front as one
    more image, then wrapped back level by level, so that the caller may work on it (in
    place too) as on any tensor of its own."""
    functorch = torch._C._functorch
    layers: list[tuple[bool, int]] = []  # (batched, level), outermost wrapper first
    with torch._C._DisableFuncTorch():
        while functorch.is_functorch_wrapped_tensor(x):
            level = functorch.maybe_get_level(x)
            batched = functorch.is_batchedtensor(x)
            bdim = functorch.maybe_get_bdim(x) if batched else None
            x = functorch.get_unwrapped(x)
            if bdim is not None:
                x = x.movedim(bdim, 0)
            layers.append((batched, level))
        out = _edt(x.detach(), spatial_dims, steps, squared, double)
    for batched, level in reversed(layers):
        out = functorch._add_batch_dim(out, 0, level) if batched else functorch._wrap_for_grad(
            out, level)  # fmt: skip
    return out


def _edt(x: Tensor, spatial_dims: int, steps: list[float], squared: bool, double: bool) -> Tensor:
    """The transform of :func:`distance_transform_edt` on checked arguments (eager); a
    float64 result if ``double``, else float32."""
    out_dtype = torch.float64 if double else torch.float32
    first = x.dim() - spatial_dims
    if x.numel() == 0:
        return torch.zeros(x.shape, dtype=out_dtype, device=x.device)
    # larger than any squared distance in the image: "no zero on this line"
    extent = sum((s * n) ** 2 for s, n in zip(steps, x.shape[first:], strict=True))
    big = 4.0 * (extent + 1.0)
    far = math.ceil(math.sqrt(big) / steps[-1]) + 1  # far * step >= sqrt(big)
    longest = max(x.shape[first:])
    # unit spacing: the squared distances are integers, int32 while they fit
    exact = all(s == 1.0 for s in steps) and (far + longest) ** 2 + extent < 2**31
    dtype = torch.int32 if exact else torch.float64
    if exact:
        big = int(big)
    with torch.no_grad():
        zero = x.logical_not()
        f = _scan_last(zero, far, steps[-1], dtype)
        # the previous axis's result once the next one is computed: the following axis
        # writes into it, and the final distances too (full-size buffers are fresh pages,
        # page-faulted in on first use: two of them serve the whole transform on CPU)
        spare: Tensor | None = None
        for dim in range(x.dim() - 2, first - 1, -1):
            step = steps[dim - first]
            g = None
            # the windowed and stack forms loop on the data; an accelerator takes all the
            # pairs at once fastest (the dense form)
            if f.device.type == "cpu" and f.shape[dim] > _DENSE_UP_TO:
                g = _windowed(f, dim, step, big, into=spare)
                if g is None:
                    h, shape = _axis_first(f.double(), dim)
                    g = _lower_envelope(h, step).view(shape).movedim(0, dim)
            else:
                h, shape = _axis_first(f, dim)
                # float32 holds every value exactly while they stay below 2^24
                h = h.float() if exact and big + extent < 2.0**24 else h.double()
                g = _lower_envelope_dense(h, step).view(shape).movedim(0, dim)
            g = g.to(dtype).contiguous()
            spare = f if f.is_contiguous() and f.data_ptr() != g.data_ptr() else None
            f = g
        if spare is not None and spare.element_size() == _itemsize(out_dtype):
            out = spare.view(out_dtype).copy_(f)  # the dead buffer, its bits reinterpreted
        else:
            out = f.to(out_dtype)
        # an image without any zero element has no distance to give (inf, below; its every
        # squared distance is >= big)
        # (the largest byte of each image's zero mask: torch's `any` over a bool tensor
        # costs 30x as much on CPU)
        per_image = zero.view(torch.uint8).reshape(*zero.shape[:first], -1)
        none_left = not bool(per_image.amax(-1).all())
        if not squared and out.device.type == "cpu":
            # numpy's square root, in place on the same memory: torch's CPU square root of 0
            # costs 6-10x that of other values (an AMD EPYC; half the elements of a mask are
            # 0), numpy's does not (0.29 ms against 0.63 ms over 524,288 floats). Both are
            # IEEE square roots, correctly rounded.
            arr = out.numpy()
            np.sqrt(arr, out=arr)
        elif not squared:
            out = out.sqrt_()
        if none_left:
            out.masked_fill_(f >= big, math.inf)
    return out


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _edt_fake(
    x: Tensor, spatial_dims: int, steps: list[float], squared: bool, double: bool
) -> Tensor:
    return x.new_empty(x.shape, dtype=torch.float64 if double else torch.float32)


# An operator of its own: torch.compile records one call to it (no graph break) and runs the
# eager algorithm at that point, instead of tracing its data-dependent loops.
_edt_op = torch.library.custom_op("losskit::distance_transform_edt", mutates_args=())(_edt)
_edt_op.register_fake(_edt_fake)


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
