"""``x ** exponent`` for a Python number exponent, as products wherever that is exact enough.

torch's CPU ``pow`` has fast paths for the exponents 0, 1, 2, 3, 0.5, -0.5, -1 and -2 only;
every other exponent, 4 and 1.5 included, runs the general power, about 50x a product per element
(7.3 ns against 0.15 on the AMD EPYC of the benchmarks, one thread, float32). The losses' own
exponents are mostly small integers or halves (SIoU's shape exponent 4, the Gaussian focal
loss's ``beta = 4``, a focal ``gamma`` of 1 to 5, alpha-IoU's 3), so :func:`power` writes
those as a chain of at most four products (an error of a few units in the last place, as a
compiler's own expansion of ``pow``) and keeps ``torch.pow`` for the rest.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._autograd import transforms_active

#: integer exponents up to this are written as products (at most four of them)
_MAX_PRODUCTS = 8


def _chain(x: Tensor, k: int, out: Tensor | None) -> Tensor:
    """``x^k`` for an integer ``1 <= k <= 8``: ``x^2``, ``x^3`` or ``x^4 = (x^2)^2``, squared
    once more for ``k >= 6`` (``x^6 = (x^3)^2``, ``x^8 = (x^4)^2``), times ``x`` for odd ``k``
    above 3. Into ``out`` when given (which must not be ``x``)."""
    if k == 1:
        return x.clone() if out is None else out.copy_(x)
    r = torch.mul(x, x) if out is None else torch.mul(x, x, out=out)
    if k in (3, 6, 7):
        r = r.mul_(x) if not _recorded(x) else r * x
    if k in (4, 5, 8):
        r = r.mul_(r) if not _recorded(x) else r * r
    if k in (6, 7, 8):
        r = r.mul_(r) if not _recorded(x) else r * r
    if k in (5, 7):
        r = r.mul_(x) if not _recorded(x) else r * x
    return r


def _recorded(x: Tensor) -> bool:
    """Some differentiation sees operations on ``x`` now: autograd records them (in-place
    products would then overwrite a tensor the graph saved), a forward-mode dual level or a
    ``torch.func`` transform is active (forward mode's tangent of ``r.mul_(r)`` is wrong:
    ``2 r r'`` is taken after ``r`` is overwritten)."""
    return (x.requires_grad and torch.is_grad_enabled()) or transforms_active()


def power(x: Tensor, exponent: float, *, out: Tensor | None = None) -> Tensor:
    """``x ** exponent`` (a Python number), value and autograd gradient as ``torch.pow``'s.

    Integer exponents from 1 to 8 are products (:func:`_chain`); a half-integer from 0.5 to
    8.5 is ``sqrt(x) x^k`` where nothing differentiates it (differentiated, the square root's
    infinite derivative at ``x = 0`` times ``x^k = 0`` would be NaN where ``pow``'s is 0);
    anything else is ``torch.pow``. (A half-integer power of ``-inf`` is therefore NaN, where
    ``pow`` gives ``inf``; every other negative base is NaN in both.) ``out`` (optional, not
    ``x``, and only where nothing differentiates it): the result is written there.

    Example:
        >>> power(torch.tensor([2.0, 3.0]), 4.0)
        tensor([16., 81.])
    """
    e = float(exponent)
    if out is not None and _recorded(x):
        raise ValueError("power: out= cannot be used where the operation is differentiated")
    if e == 0.0:  # torch.pow's fill (a zero gradient on the graph)
        return torch.pow(x, 0.0) if out is None else out.fill_(1.0)
    k = int(e)
    if k == e and 1 <= k <= _MAX_PRODUCTS:
        return _chain(x, k, out)
    if k + 0.5 == e and 0 <= k <= _MAX_PRODUCTS and not _recorded(x):
        root = torch.sqrt(x) if out is None else torch.sqrt(x, out=out)
        return root if k == 0 else root.mul_(_chain(x, k, None))
    return torch.pow(x, e) if out is None else torch.pow(x, e, out=out)
