"""Registry entries for the embedding losses: contrastive and triplet, on explicit pairs and
triplets and over labelled batches; the softmax pair losses (NT-Xent, InfoNCE, SupCon,
N-pair).

The batch losses' ``"none"`` is per sample (a pair split between its two ends; a triplet
booked to its anchor), so the shared permutation test applies to them as it does to the
explicit-pair and explicit-triplet forms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from .. import functional as F
from ._base import LossInputs, LossSpec
from ._explain import Curve, Panel, scalar_curve
from ._inputs import randint, randn

_D = 5  # feature dimension of the registry's inputs
_PAPER_CONTRASTIVE = (
    "Sun, Chen, Wang, Tang, 'Deep Learning Face Representation by Joint "
    "Identification-Verification', NeurIPS 2014, arXiv:1406.4773; Hadsell, Chopra, LeCun, "
    "'Dimensionality Reduction by Learning an Invariant Mapping', CVPR 2006"
)
_PAPER_TRIPLET = (
    "Schroff, Kalenichenko, Philbin, 'FaceNet: A Unified Embedding for Face Recognition and "
    "Clustering', CVPR 2015, arXiv:1503.03832; Hermans, Beyer, Leibe, 'In Defense of the "
    "Triplet Loss for Person Re-Identification', arXiv:1703.07737"
)


# --------------------------------------------------------------------------- inputs


def _labels(n: int, g: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Identities with repeats (every batch of 3 or more has a positive and a negative)."""
    classes = max(2, n // 3)
    return (torch.arange(n) % classes)[torch.randperm(n, generator=g)].to(device)


def _pairs(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x1 = randn(generator, n, _D, dtype=dtype, device=device)
    x2 = randn(generator, n, _D, dtype=dtype, device=device) * 0.5
    same = randint(generator, 2, n, device=device)
    return LossInputs(args=(x1, x2, same), batched=(True, True, True))


def _triplets(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    a = randn(generator, n, _D, dtype=dtype, device=device)
    p = a + 0.7 * randn(generator, n, _D, dtype=dtype, device=device)
    neg = randn(generator, n, _D, dtype=dtype, device=device)
    return LossInputs(args=(a, p, neg), batched=(True, True, True))


def _batch(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _D, dtype=dtype, device=device)
    return LossInputs(args=(x, _labels(n, generator, device)), batched=(True, True))


_C = 4  # classes of the proxy losses' inputs


def _proxy_batch(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    x = randn(generator, n, _D, dtype=dtype, device=device)
    y = randint(generator, _C, n, device=device)
    return LossInputs(args=(x, y), batched=(True, True))


def _views(
    n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
) -> LossInputs:
    a = randn(generator, n, _D, dtype=dtype, device=device)
    p = a + 0.8 * randn(generator, n, _D, dtype=dtype, device=device)
    return LossInputs(args=(a, p), batched=(True, True))


# --------------------------------------------------------------------------- explain

_COS = torch.linspace(-0.98, 0.98, 197, dtype=torch.float64)


def _on_circle(c: torch.Tensor) -> torch.Tensor:
    """The unit vector at cosine ``c`` with ``(1, 0)`` (differentiable in ``c``)."""
    return torch.stack([c, torch.sqrt(1.0 - c * c)], -1)


def _negative_batch(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of four: the anchor ``(1, 0)``, its positives at cosines 0.5 and 0.9, a
    negative at cosine ``c`` (a scalar tensor)."""
    anchor = torch.tensor([1.0, 0.0], dtype=c.dtype)
    near, far = (_on_circle(torch.tensor(v, dtype=c.dtype)) for v in (0.9, 0.5))
    return torch.stack([anchor, near, far, _on_circle(c)]), torch.tensor([0, 0, 0, 1])


def _negative_panels(
    fn: object, label: str, settings: dict[str, dict], note: str
) -> Callable[[], tuple[Panel, ...]]:
    """Anchor 0's loss over its negative's cosine (:func:`_negative_batch`), one curve per
    setting of the hyperparameters."""

    def panels() -> tuple[Panel, ...]:
        def curve(name: str, kw: dict) -> Curve:
            def loss_of(cs: torch.Tensor) -> torch.Tensor:
                out = []
                for c in cs:
                    x, y = _negative_batch(c)
                    out.append(fn(x, y, reduction="none", **kw)[0])  # type: ignore[operator]
                return torch.stack(out)

            return scalar_curve(name, _COS, loss_of)

        return (
            Panel(
                f"{label}: the anchor's loss over its negative's cosine",
                "cos(anchor, negative); the anchor's positives at cosines 0.9 and 0.5",
                _COS,
                tuple(curve(n, kw) for n, kw in settings.items()),
                note,
            ),
        )

    return panels


def _softmax_panels(fn: object, label: str) -> Callable[[], tuple[Panel, ...]]:
    return _negative_panels(
        fn, label, {"temperature 0.1": {"temperature": 0.1}, "temperature 0.5": {"temperature": 0.5}},
        "A low temperature concentrates the loss and its gradient on a negative closer than the "
        "positives; a high one keeps pulling the positives together too.",
    )  # fmt: skip


def _proxy_panels(
    fn: object, label: str, settings: dict[str, dict], note: str
) -> Callable[[], tuple[Panel, ...]]:
    """Sample 0's loss over its cosine with its own proxy, the other proxy orthogonal."""

    def panels() -> tuple[Panel, ...]:
        def curve(name: str, kw: dict) -> Curve:
            def loss_of(cs: torch.Tensor) -> torch.Tensor:
                out = []
                for c in cs:
                    x = torch.stack([_on_circle(c), torch.tensor([0.0, 1.0], dtype=c.dtype)])
                    y = torch.tensor([0, 1])
                    centers = torch.eye(2, dtype=c.dtype)
                    if fn is F.soft_triple_loss:
                        centers = centers.unsqueeze(1)
                    out.append(fn(x, y, centers, reduction="sum", **kw))  # type: ignore[operator]
                return torch.stack(out)

            return scalar_curve(name, _COS, loss_of)

        return (
            Panel(
                f"{label}: the batch's loss over a sample's cosine with its class proxy",
                "cos(x_0, proxy 0); x_1 on proxy 1, the proxies orthogonal",
                _COS,
                tuple(curve(n, kw) for n, kw in settings.items()),
                note,
            ),
        )

    return panels


def _n_pair_panels() -> tuple[Panel, ...]:
    def loss_of(cs: torch.Tensor) -> torch.Tensor:
        out = []
        for c in cs:
            # class 0: anchor (1, 0), positive at cosine 0.9; class 1: anchor (0, 1) and its
            # positive at cosine c with anchor 0 (the negative anchor 0 competes with)
            x = torch.stack([torch.tensor([1.0, 0.0], dtype=c.dtype),
                             _on_circle(torch.tensor(0.9, dtype=c.dtype)),
                             torch.tensor([0.0, 1.0], dtype=c.dtype), _on_circle(c)])  # fmt: skip
            y = torch.tensor([0, 0, 1, 1])
            out.append(F.n_pair_loss(x, y, reduction="none")[0])
        return torch.stack(out)

    return (
        Panel(
            "N-pair: anchor 0's loss over its cosine with the other class's positive",
            "cos(anchor_0, positive of class 1); anchor 0's own positive at cosine 0.9",
            _COS,
            (scalar_curve("two classes", _COS, loss_of),),
            "log(e^0.9 + e^c) - 0.9: a two-way softmax over cosines, never 0; each class "
            "competes through its first pair only.",
        ),
    )


def _info_nce_panels() -> tuple[Panel, ...]:
    def curve(symmetric: bool) -> Curve:
        def loss_of(cs: torch.Tensor) -> torch.Tensor:
            out = []
            for c in cs:
                # sample 0's views at cosine c; sample 1 orthogonal to the anchor view
                a = torch.stack([torch.tensor([1.0, 0.0], dtype=c.dtype),
                                 torch.tensor([0.0, 1.0], dtype=c.dtype)])  # fmt: skip
                p = torch.stack([_on_circle(c), torch.tensor([-1.0, 0.0], dtype=c.dtype)])
                out.append(
                    F.info_nce_loss(a, p, temperature=0.2, symmetric=symmetric,
                                    reduction="none")[0]  # fmt: skip
                )
            return torch.stack(out)

        return scalar_curve(f"symmetric={symmetric}", _COS, loss_of)

    return (
        Panel(
            "sample 0's loss over the cosine between its two views",
            "cos(anchor_0, paired_0), temperature 0.2",
            _COS,
            (curve(True), curve(False)),
            "The loss falls as the two views align; symmetric=True also scores the second view "
            "against every view of the batch.",
        ),
    )


_ANGLE = torch.linspace(0.0, 3.1, 156, dtype=torch.float64)


def _ssl_panels(
    fn: object, label: str, settings: dict[str, dict], note: str
) -> Callable[[], tuple[Panel, ...]]:
    """The loss over the rotation between two views of a fixed batch of 2-D embeddings."""
    base = torch.tensor([[1.0, 0.2], [-0.8, 0.5], [0.3, -1.1], [-0.5, -0.4], [0.9, 0.9],
                         [-1.2, 0.1]], dtype=torch.float64)  # fmt: skip

    def panels() -> tuple[Panel, ...]:
        def curve(name: str, kw: dict) -> Curve:
            def loss_of(ts: torch.Tensor) -> torch.Tensor:
                out = []
                for t in ts:
                    c, s_ = torch.cos(t), torch.sin(t)
                    rot = torch.stack([torch.stack([c, -s_]), torch.stack([s_, c])])
                    out.append(fn(base, base @ rot.T, **kw))  # type: ignore[operator]
                return torch.stack(out)

            return scalar_curve(name, _ANGLE, loss_of)

        return (
            Panel(
                f"{label}: over the rotation between the two views",
                "angle (radians) by which the second view is rotated",
                _ANGLE,
                tuple(curve(n, kw) for n, kw in settings.items()),
                note,
            ),
        )

    return panels


# --------------------------------------------------------------------------- entries

#: the keyword arguments every entry of the family shares
_entry = partial(LossSpec, family="embedding")

SPECS = [
    _entry(
        function=F.contrastive_loss,
        make_inputs=_pairs,
        peers=("pytorch_metric_learning.losses.ContrastiveLoss (form='hinge')",),
        kwargs={"margin": 1.0},
        grad_args=(0, 1),
    ),
    _entry(
        function=F.batch_contrastive_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.ContrastiveLoss (form='hinge', SumReducer / 2)",),
        kwargs={"margin": 1.0},
    ),
    _entry(
        function=F.triplet_loss,
        make_inputs=_triplets,
        peers=(
            "torch.nn.TripletMarginLoss",
            "pytorch_metric_learning.losses.TripletMarginLoss (explicit indices)",
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1, 2),
    ),
    _entry(
        function=F.batch_triplet_loss,
        make_inputs=_batch,
        peers=(
            "pytorch_metric_learning.losses.TripletMarginLoss",
            "pytorch_metric_learning.miners.BatchHardMiner",
            "pytorch_metric_learning.miners.TripletMarginMiner(type_of_triplets='semihard')",
        ),
        kwargs={"margin": 1.0},
    ),
    _entry(
        function=F.nt_xent_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.NTXentLoss",),
        kwargs={"temperature": 0.5},
        explain=_softmax_panels(F.nt_xent_loss, "NT-Xent"),
    ),
    _entry(
        function=F.info_nce_loss,
        make_inputs=_views,
        peers=("pytorch_metric_learning.losses.SelfSupervisedLoss(NTXentLoss())",),
        kwargs={"temperature": 0.5},
        grad_args=(0, 1),
        explain=_info_nce_panels,
    ),
    _entry(
        function=F.supcon_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.SupConLoss",),
        kwargs={"temperature": 0.5},
        explain=_softmax_panels(F.supcon_loss, "SupCon"),
    ),
    _entry(
        function=F.n_pair_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.NPairsLoss",),
        fullgraph=False,  # the first pair of each class: data-dependent nonzero() and unique()
        order_dependent=True,  # each class's *first* pair, as in PML
        explain=_n_pair_panels,
    ),
    _entry(
        function=F.multi_similarity_loss,
        make_inputs=_batch,
        peers=(
            "pytorch_metric_learning.losses.MultiSimilarityLoss",
            "pytorch_metric_learning.miners.MultiSimilarityMiner (mining_margin=)",
        ),
        kwargs={"pos_scale": 2.0, "neg_scale": 10.0},
        explain=_negative_panels(
            F.multi_similarity_loss, "multi-similarity",
            {"every pair": {}, "mining_margin=0.1": {"mining_margin": 0.1}},
            "The negative term rises steeply (neg_scale 50) once the negative passes base 0.5; "
            "mining drops a negative while it is farther than every positive by the margin.",
        ),
    ),
    _entry(
        function=F.circle_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.CircleLoss (grad_mode='straight_through')",),
        kwargs={"margin": 0.25, "scale": 16.0},
        explain=_negative_panels(
            F.circle_loss, "circle",
            {"exact gradient": {"scale": 32.0},
             "paper's gradient": {"scale": 32.0, "grad_mode": "straight_through"}},
            "The same loss; the paper's gradient treats the weights a_n = [s_n + m]_+ as "
            "constants, so it grows only linearly in the negative's similarity.",
        ),  # fmt: skip
    ),
    _entry(
        function=F.proxy_anchor_loss,
        make_inputs=_proxy_batch,
        peers=("pytorch_metric_learning.losses.ProxyAnchorLoss",),
        kwargs={"margin": 0.1, "scale": 8.0},
        module_kwargs={"num_classes": _C, "embedding_dim": _D},
        batch_in_output=False,
        explain=_proxy_panels(
            F.proxy_anchor_loss, "Proxy-Anchor",
            {"scale 32": {}, "scale 8": {"scale": 8.0}},
            "The positive term fades once the sample is within the margin of its proxy.",
        ),
    ),
    _entry(
        function=F.proxy_nca_loss,
        make_inputs=_proxy_batch,
        peers=("pytorch_metric_learning.losses.ProxyNCALoss",),
        kwargs={"scale": 2.0},
        module_kwargs={"num_classes": _C, "embedding_dim": _D},
        explain=_proxy_panels(
            F.proxy_nca_loss, "ProxyNCA",
            {"scale 1": {}, "scale 4.5 (ProxyNCA++)": {"scale": 4.5}},
            "A softmax over proxies: never exactly zero, sharper with a larger scale.",
        ),
    ),
    _entry(
        function=F.soft_triple_loss,
        make_inputs=_proxy_batch,
        peers=("pytorch_metric_learning.losses.SoftTripleLoss",),
        kwargs={"scale": 10.0},
        module_kwargs={"num_classes": _C, "embedding_dim": _D, "subcenters": 3},
        explain=_proxy_panels(
            F.soft_triple_loss, "SoftTriple (one centre per class)",
            {"scale 20": {}, "scale 5": {"scale": 5.0}},
            "With one centre per class, a normalised softmax with a margin on the true class.",
        ),
    ),
    _entry(
        function=F.margin_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.MarginLoss",),
        kwargs={"margin": 0.2},
        explain=_negative_panels(
            F.margin_loss, "margin loss",
            {"boundary 1.2": {"boundary": 1.2}, "boundary 0.8": {"boundary": 0.8}},
            "A negative costs while its distance sqrt(2 - 2 cos) is under boundary + margin; "
            "the positives' terms (at cosines 0.9 and 0.5) add a constant.",
        ),
    ),
    _entry(
        function=F.lifted_structure_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.LiftedStructureLoss",),
        kwargs={"margin": 1.0},
        explain=_negative_panels(
            F.lifted_structure_loss, "lifted structure",
            {"margin 1": {}, "margin 0.5": {"margin": 0.5}},
            "Squared hinge of a smooth maximum: every negative of either end of a positive "
            "pair pushes, the closest ones most.",
        ),
    ),
    _entry(
        function=F.generalized_lifted_structure_loss,
        make_inputs=_batch,
        peers=("pytorch_metric_learning.losses.GeneralizedLiftedStructureLoss",),
        kwargs={"margin": 1.0},
        explain=_negative_panels(
            F.generalized_lifted_structure_loss, "generalized lifted structure",
            {"margin 1": {}, "margin 0.5": {"margin": 0.5}},
            "A soft batch-hard triplet: the log-sum-exps are smooth maxima over the anchor's "
            "positive distances and negative margins.",
        ),
    ),
    _entry(
        function=F.vicreg_loss,
        make_inputs=_views,
        peers=("pytorch_metric_learning.losses.VICRegLoss",),
        kwargs={"invariance_weight": 25.0},
        grad_args=(0, 1),
        batch_in_output=False,
        explain=_ssl_panels(
            F.vicreg_loss, "VICReg",
            {"defaults (25, 25, 1)": {}, "invariance only": {"variance_weight": 0.0,
                                                              "covariance_weight": 0.0}},
            "Only the invariance term sees the rotation; variance and covariance are constant "
            "(each view's statistics do not change).",
        ),  # fmt: skip
    ),
    _entry(
        function=F.barlow_twins_loss,
        make_inputs=_views,
        peers=("monai.losses.BarlowTwinsLoss",),
        kwargs={"off_diagonal_weight": 5e-3},
        grad_args=(0, 1),
        batch_in_output=False,
        explain=_ssl_panels(
            F.barlow_twins_loss, "Barlow Twins",
            {"off_diagonal_weight 5e-3": {}, "off_diagonal_weight 1": {"off_diagonal_weight": 1.0}},
            "Zero only when the cross-correlation is the identity: the rotation mixes the "
            "dimensions, so both terms grow with it.",
        ),
    ),
]
