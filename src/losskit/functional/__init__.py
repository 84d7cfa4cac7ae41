"""The functional core: every loss as a plain function, one file per family.

Each family file (``box``, ``classification``, ``constraint``, ``distance``, ``embedding``,
``margin``, ``overlap``, ``regression``) holds its functions and, beside each loss, the
module derived from it; its ``__all__`` lists both. This namespace exports the functions
(:mod:`losskit.nn` the modules); both lists are derived from the family files.
"""

from torch import nn as _nn

from . import box, classification, constraint, distance, embedding, margin, overlap, regression
from .box import *  # noqa: F403
from .classification import *  # noqa: F403
from .constraint import *  # noqa: F403
from .distance import *  # noqa: F403
from .embedding import *  # noqa: F403
from .margin import *  # noqa: F403
from .overlap import *  # noqa: F403
from .regression import *  # noqa: F403

#: the family files, in the order of the documentation
FAMILIES = (regression, classification, box, overlap, embedding, constraint, margin, distance)


def _is_module(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, _nn.Module)


__all__ = [
    name for family in FAMILIES for name in family.__all__ if not _is_module(getattr(family, name))
]
