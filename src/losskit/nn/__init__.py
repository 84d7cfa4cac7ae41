"""The module form of every loss: ``nn.Module`` classes derived from their functions (see
:class:`losskit._api.LossModule`). They live beside their functions in the family files of
:mod:`losskit.functional`; this namespace exports them, derived from those files' ``__all__``.
"""

from .._api import LossModule
from ..functional import FAMILIES as _FAMILIES
from ..functional import _is_module
from ..functional.box import *  # noqa: F403
from ..functional.classification import *  # noqa: F403
from ..functional.constraint import *  # noqa: F403
from ..functional.embedding import *  # noqa: F403
from ..functional.margin import *  # noqa: F403
from ..functional.overlap import *  # noqa: F403
from ..functional.regression import *  # noqa: F403

__all__ = ["LossModule"] + [
    name for family in _FAMILIES for name in family.__all__ if _is_module(getattr(family, name))
]

# the functions came in with the star imports: the module namespace keeps only the modules
for _name in [n for family in _FAMILIES for n in family.__all__ if n not in __all__]:
    globals().pop(_name, None)
del _name
