"""Benchmark cases of the embedding family (losskit against its peers)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from .. import functional as F
from ..functional.embedding import Mining
from ..specs._inputs import grad_inputs, randint, randn
from ._base import BenchCase
from ._base import step as _step

_BB, _BDIM = 512, 128  # the batch-triplet case


def _batch_data(device: torch.device, b: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = randn(g, b, _BDIM, dtype=torch.float32, device=device)
    y = (torch.arange(b) % classes)[torch.randperm(b, generator=g)].to(device)
    return x, y


def _pml_distance() -> Any:
    from pytorch_metric_learning.distances import LpDistance

    return LpDistance(normalize_embeddings=False)


def _bench_batch_triplet(mining: Mining, classes: int, b: int = _BB) -> BenchCase:
    margin = 0.2

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses, miners

        x0, y = _batch_data(device, b, classes)
        x, xp = grad_inputs(x0, x0)
        pml = losses.TripletMarginLoss(margin=margin, distance=_pml_distance())
        ours = lambda: F.batch_triplet_loss(x, y, margin=margin, mining=mining, mean_over="active")  # noqa: E731
        if mining == "all":
            peer = lambda: pml(xp, y)  # noqa: E731
        elif mining == "hard":
            miner = miners.BatchHardMiner(distance=_pml_distance())
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        else:
            miner = miners.TripletMarginMiner(
                margin=margin, type_of_triplets="semihard", distance=_pml_distance()
            )
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        return {"losskit": _step(ours, x), "pytorch-metric-learning": _step(peer, xp)}

    return BenchCase(
        f"{mining}, B={b}, D={_BDIM}, {classes} classes x {b // classes} float32", setup
    )


def _bench_batch_contrastive(classes: int = 128) -> BenchCase:
    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xh, xp = grad_inputs(x0, x0, x0)
        # PML's ContrastiveLoss is losskit's form="hinge" (its reducer averages the non-zero
        # same- and different-pair terms separately: the same work)
        pml = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=_pml_distance())
        return {
            "losskit": _step(lambda: F.batch_contrastive_loss(x, y, margin=1.0), x),
            'losskit form="hinge"': _step(
                lambda: F.batch_contrastive_loss(xh, y, margin=1.0, form="hinge"), xh
            ),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp),
        }

    return BenchCase(f"B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32", setup)


def _bench_triplet() -> BenchCase:
    n = 1024  # PML builds the (3n x 3n) distance matrix of the concatenated embeddings

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        g = torch.Generator().manual_seed(0)
        a0, p0, n0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(3))
        a, p, neg = grad_inputs(a0, p0, n0)
        at, pt, nt = grad_inputs(a0, p0, n0)
        ap, pp, np_ = grad_inputs(a0, p0, n0)
        from pytorch_metric_learning.reducers import MeanReducer

        torch_loss = torch.nn.TripletMarginLoss(margin=1.0)
        pml = losses.TripletMarginLoss(margin=1.0, distance=_pml_distance(), reducer=MeanReducer())
        idx = torch.arange(n, device=device)
        triplets = (idx, idx + n, idx + 2 * n)

        def pml_step() -> torch.Tensor:
            return pml(torch.cat([ap, pp, np_]), None, triplets)

        return {
            "losskit": _step(lambda: F.triplet_loss(a, p, neg, margin=1.0), a, p, neg),
            "torch": _step(lambda: torch_loss(at, pt, nt), at, pt, nt),
            "pytorch-metric-learning": _step(pml_step, ap, pp, np_),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


def _bench_contrastive() -> BenchCase:
    n = 4096

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        a0, b0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(2))
        same = randint(g, 2, n, device=device)
        a, b = grad_inputs(a0, b0)
        at, bt = grad_inputs(a0, b0)

        def plain_torch() -> torch.Tensor:
            # the DeepID2 formula written directly in torch (no peer library implements it)
            d = torch.nn.functional.pairwise_distance(at, bt)
            return 0.5 * torch.where(same > 0, d.square(), torch.relu(1.0 - d).square()).mean()

        return {
            "losskit": _step(lambda: F.contrastive_loss(a, b, same, margin=1.0), a, b),
            "torch": _step(plain_torch, at, bt),
        }

    return BenchCase(f"N={n}, D={_BDIM} float32", setup)


#: the chunk sizes of the B = 512 cases: 64 rows (an eighth of the matrix, the smallest block
#: worth its per-block overhead) and 256 (half); see ``CHUNK_CASES`` for the dependence
_CHUNKS = (64, 256)


def _chunked_steps(
    make: Callable[..., torch.Tensor], x0: torch.Tensor, chunks: tuple[int, ...]
) -> dict[str, Callable[[], None]]:
    """``"losskit chunk_size=k"`` steps of ``make(x, chunk_size=k)``, each on its own leaf."""
    steps = {}
    for chunk, (xc,) in zip(chunks, (grad_inputs(x0) for _ in chunks), strict=True):
        steps[f"losskit chunk_size={chunk}"] = _step(partial(make, xc, chunk_size=chunk), xc)
    return steps


def _bench_softmax(name: str, classes: int, chunks: tuple[int, ...] = _CHUNKS) -> BenchCase:
    """NT-Xent or SupCon at B = 512, D = 128 against pytorch-metric-learning, with losskit's
    chunked path (``chunks``: anchors per block) beside its dense one."""
    temperature = 0.1

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        ours = getattr(F, name)
        peer = {"nt_xent_loss": losses.NTXentLoss, "supcon_loss": losses.SupConLoss}[name]
        pml = peer(temperature=temperature)
        steps = {"losskit": _step(lambda: ours(x, y, temperature=temperature), x)}
        steps.update(
            _chunked_steps(lambda t, **kw: ours(t, y, temperature=temperature, **kw), x0, chunks)
        )
        if not skip_peer:
            steps["pytorch-metric-learning"] = _step(lambda: pml(xp, y), xp)
        return steps

    # PML's NTXentLoss builds a (positive pairs x negative pairs) matrix: 1536 x 260,608
    # (1.6 GB per float32 copy, over 6 GB in all) at 128 x 4, 15,872 x 245,760 (15.6 GB per
    # copy) at 16 x 32, which this benchmark does not run
    skip_peer = name == "nt_xent_loss" and _BB // classes > 4
    note = "; PML not run: its (pos pairs x neg pairs) matrix is 3.9 G entries" if skip_peer else ""
    return BenchCase(
        f"B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32{note}", setup
    )


def _bench_pair_weighting(
    name: str, classes: int, chunks: tuple[int, ...] = _CHUNKS
) -> BenchCase:
    """Multi-similarity (with its miner) or circle loss at B = 512, D = 128 against
    pytorch-metric-learning, with losskit's chunked path beside its dense one."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses, miners

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        if name == "multi_similarity_loss":
            kw: dict[str, Any] = {"mining_margin": 0.1}
            pml, miner = losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner(0.1)
            peer = lambda: pml(xp, y, miner(xp, y))  # noqa: E731
        else:
            kw = {"grad_mode": "straight_through"}
            pml = losses.CircleLoss()
            peer = lambda: pml(xp, y)  # noqa: E731
        ours = getattr(F, name)
        steps = {"losskit": _step(lambda: ours(x, y, **kw), x)}
        steps.update(_chunked_steps(lambda t, **ck: ours(t, y, **kw, **ck), x0, chunks))
        steps["pytorch-metric-learning"] = _step(peer, xp)
        return steps

    what = "with its miner, " if name == "multi_similarity_loss" else ""
    return BenchCase(
        f"{what}B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32", setup
    )


def _bench_proxy(name: str, classes: int) -> BenchCase:
    """A proxy loss at B = 512, D = 128 with ``classes`` proxies against
    pytorch-metric-learning, the proxies learnable on both sides."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        torch.manual_seed(0)
        if name == "proxy_anchor_loss":
            pml = losses.ProxyAnchorLoss(classes, _BDIM).to(device)
            centers0 = pml.proxies.detach()
        elif name == "proxy_nca_loss":
            pml = losses.ProxyNCALoss(classes, _BDIM).to(device)
            centers0 = pml.proxies.detach()
        else:
            pml = losses.SoftTripleLoss(classes, _BDIM, centers_per_class=10).to(device)
            centers0 = pml.fc.detach().T.reshape(classes, 10, _BDIM)
        (centers,) = grad_inputs(centers0)
        ours = getattr(F, name)
        return {
            "losskit": _step(lambda: ours(x, y, centers), x, centers),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp, *pml.parameters()),
        }

    k = ", 10 centres per class" if name == "soft_triple_loss" else ""
    return BenchCase(f"B={_BB}, D={_BDIM}, {classes} classes{k} float32", setup)


def _bench_margin(classes: int) -> BenchCase:
    """The margin loss over all triplets at B = 512, D = 128 against pytorch-metric-learning
    (which lists every triplet; losskit sums them from the pairs)."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        pml = losses.MarginLoss(margin=0.2, beta=1.25, learn_beta=True).to(device)
        (b,) = grad_inputs(torch.tensor(1.25, device=device))
        return {
            "losskit": _step(lambda: F.margin_loss(x, y, b, margin=0.2), x, b),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp, pml.beta),
        }

    return BenchCase(f"B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32", setup)


def _bench_lifted(name: str, classes: int, chunks: tuple[int, ...] = _CHUNKS) -> BenchCase:
    """Lifted structure (plain or generalized) at B = 512, D = 128 against
    pytorch-metric-learning; the generalized loss's chunked path beside its dense one."""
    # PML's LiftedStructureLoss builds a (positive pairs x negative pairs) matrix: 0.4 G
    # entries at 128 x 4, 3.9 G at 16 x 32, which this benchmark does not run
    skip_peer = name == "lifted_structure_loss" and _BB // classes > 4

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        peer = {
            "lifted_structure_loss": losses.LiftedStructureLoss,
            "generalized_lifted_structure_loss": losses.GeneralizedLiftedStructureLoss,
        }[name]()
        ours = getattr(F, name)
        steps = {"losskit": _step(lambda: ours(x, y), x)}
        if name == "generalized_lifted_structure_loss":
            steps.update(_chunked_steps(lambda t, **kw: ours(t, y, **kw), x0, chunks))
        if not skip_peer:
            steps["pytorch-metric-learning"] = _step(lambda: peer(xp, y), xp)
        return steps

    note = "; PML not run: its (pos pairs x neg pairs) matrix is 3.9 G entries" if skip_peer else ""
    return BenchCase(
        f"B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32{note}", setup
    )


def _bench_n_pair(classes: int) -> BenchCase:
    """N-pair at B = 512, D = 128 against pytorch-metric-learning's ``NPairsLoss``."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        x0, y = _batch_data(device, _BB, classes)
        x, xp = grad_inputs(x0, x0)
        pml = losses.NPairsLoss()
        return {
            "losskit": _step(lambda: F.n_pair_loss(x, y), x),
            "pytorch-metric-learning": _step(lambda: pml(xp, y), xp),
        }

    return BenchCase(f"B={_BB}, D={_BDIM}, {classes} classes x {_BB // classes} float32", setup)


def _bench_ssl(name: str) -> BenchCase:
    """VICReg (against pytorch-metric-learning) or Barlow Twins (against MONAI) on two views of
    512 samples, D = 128."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        g = torch.Generator().manual_seed(0)
        a0 = randn(g, _BB, _BDIM, dtype=torch.float32, device=device)
        p0 = a0 + 0.5 * randn(g, _BB, _BDIM, dtype=torch.float32, device=device)
        a, p = grad_inputs(a0, p0)
        ap, pp = grad_inputs(a0, p0)
        steps = {"losskit": _step(lambda: getattr(F, name)(a, p), a, p)}
        if name == "vicreg_loss":
            from pytorch_metric_learning import losses

            pml = losses.VICRegLoss()
            steps["pytorch-metric-learning"] = _step(lambda: pml(ap, ref_emb=pp), ap, pp)
        else:
            from monai.losses import BarlowTwinsLoss

            monai = BarlowTwinsLoss(lambd=5e-3)
            steps["monai"] = _step(lambda: monai(ap, pp), ap, pp)
        return steps

    return BenchCase(f"N={_BB} x 2 views, D={_BDIM} float32", setup)


def _bench_info_nce(symmetric: bool) -> BenchCase:
    n = _BB // 2  # two views of 256 samples: 512 embeddings, as the labelled cases

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        from pytorch_metric_learning import losses

        g = torch.Generator().manual_seed(0)
        a0, p0 = (randn(g, n, _BDIM, dtype=torch.float32, device=device) for _ in range(2))
        a, p = grad_inputs(a0, p0)
        ap, pp = grad_inputs(a0, p0)
        pml = losses.SelfSupervisedLoss(losses.NTXentLoss(temperature=0.1), symmetric=symmetric)
        kw: dict[str, Any] = {"temperature": 0.1, "symmetric": symmetric}
        steps = {"losskit": _step(lambda: F.info_nce_loss(a, p, **kw), a, p)}
        for chunk in _CHUNKS:
            ac, pc = grad_inputs(a0, p0)
            steps[f"losskit chunk_size={chunk}"] = _step(
                partial(F.info_nce_loss, ac, pc, chunk_size=chunk, **kw), ac, pc
            )
        steps["pytorch-metric-learning"] = _step(lambda: pml(ap, pp), ap, pp)
        return steps

    return BenchCase(f"symmetric={symmetric}, N={n} x 2 views, D={_BDIM} float32", setup)


CASES = {
    "contrastive_loss": (_bench_contrastive(),),
    "batch_contrastive_loss": (_bench_batch_contrastive(128), _bench_batch_contrastive(16)),
    "triplet_loss": (_bench_triplet(),),
    "batch_triplet_loss": (
        _bench_batch_triplet("all", 128),
        _bench_batch_triplet("hard", 128),
        _bench_batch_triplet("semihard", 128),
        _bench_batch_triplet("all", 16),
    ),
    "nt_xent_loss": (_bench_softmax("nt_xent_loss", 128), _bench_softmax("nt_xent_loss", 16)),
    "info_nce_loss": (_bench_info_nce(True), _bench_info_nce(False)),
    "supcon_loss": (_bench_softmax("supcon_loss", 128), _bench_softmax("supcon_loss", 16)),
    "multi_similarity_loss": (
        _bench_pair_weighting("multi_similarity_loss", 128),
        _bench_pair_weighting("multi_similarity_loss", 16),
    ),
    "circle_loss": (
        _bench_pair_weighting("circle_loss", 128),
        _bench_pair_weighting("circle_loss", 16),
    ),
    "n_pair_loss": (_bench_n_pair(128), _bench_n_pair(16)),
    "proxy_anchor_loss": (
        _bench_proxy("proxy_anchor_loss", 128),
        _bench_proxy("proxy_anchor_loss", 16),
    ),
    "proxy_nca_loss": (_bench_proxy("proxy_nca_loss", 128), _bench_proxy("proxy_nca_loss", 16)),
    "soft_triple_loss": (
        _bench_proxy("soft_triple_loss", 128),
        _bench_proxy("soft_triple_loss", 16),
    ),
    "margin_loss": (_bench_margin(128), _bench_margin(16)),
    "lifted_structure_loss": (
        _bench_lifted("lifted_structure_loss", 128),
        _bench_lifted("lifted_structure_loss", 16),
    ),
    "generalized_lifted_structure_loss": (
        _bench_lifted("generalized_lifted_structure_loss", 128),
        _bench_lifted("generalized_lifted_structure_loss", 16),
    ),
    "vicreg_loss": (_bench_ssl("vicreg_loss"),),
    "barlow_twins_loss": (_bench_ssl("barlow_twins_loss"),),
}


# --------------------------------------------------------------------------- chunk sizes

#: the losses with ``chunk_size=`` and the keywords their B = 512 cases use
_CHUNKED: dict[str, dict[str, Any]] = {
    "info_nce_loss": {"temperature": 0.1},
    "nt_xent_loss": {"temperature": 0.1},
    "supcon_loss": {"temperature": 0.1},
    "multi_similarity_loss": {"mining_margin": 0.1},
    "circle_loss": {"grad_mode": "straight_through"},
    "generalized_lifted_structure_loss": {},
}


def _bench_chunk_sizes(name: str, b: int, chunks: tuple[int, ...]) -> BenchCase:
    """The dense path (``"losskit"``) beside the chunked one at each of ``chunks``: B = ``b``
    embeddings of D = 128, ``b / 4`` identities x 4 (``info_nce_loss``: two views of
    ``b / 2`` samples)."""

    def setup(device: torch.device) -> dict[str, Callable[[], None]]:
        x0, y = _batch_data(device, b, b // 4)
        kw = _CHUNKED[name]
        if name == "info_nce_loss":
            a0, p0 = x0[: b // 2], x0[b // 2 :]

            def two_views(**ck: Any) -> Callable[[], None]:
                a, p = grad_inputs(a0, p0)
                return _step(lambda: F.info_nce_loss(a, p, **kw, **ck), a, p)

            steps = {"losskit": two_views()}
            steps.update({f"losskit chunk_size={c}": two_views(chunk_size=c) for c in chunks})
            return steps
        ours = getattr(F, name)
        (x,) = grad_inputs(x0)
        steps = {"losskit": _step(lambda: ours(x, y, **kw), x)}
        steps.update(_chunked_steps(lambda t, **ck: ours(t, y, **kw, **ck), x0, chunks))
        return steps

    if name == "info_nce_loss":
        return BenchCase(f"N={b // 2} x 2 views, D={_BDIM} float32", setup)
    return BenchCase(f"B={b}, D={_BDIM}, {b // 4} classes x 4 float32", setup)


#: chunked against dense at several chunk sizes (``benchmarks/bench_embedding.py --chunks``):
#: B = 512, where the whole matrix is 1 MB and chunking only costs, and B = 8192, where the
#: dense path's ``B x B`` float32 buffers are 256 MB each
CHUNK_CASES = {
    name: (
        _bench_chunk_sizes(name, 512, (64, 128, 256)),
        _bench_chunk_sizes(name, 8192, (256, 1024)),
    )
    for name in _CHUNKED
}
