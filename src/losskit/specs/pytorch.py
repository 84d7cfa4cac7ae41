"""The PyTorch catalogue: registry entries for torch's built-in losses. The computation is PyTorch's own (``function`` and ``module`` *are* the torch
objects); each entry adds what the study notes left "to be written": the formula, when to use it,
and an input maker so the shared tests, ``losskit list`` and the report cover it.

Deliberate difference from losskit's own losses, recorded here and tested: a delegated torch
loss gives NaN for ``"mean"`` over an empty batch (``empty_mean="nan"``) and raises torch's
own errors (often ``RuntimeError``) on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as TF
from torch import nn

from ._base import LossInputs, LossSpec
from ._explain import Panel, scalar_curve
from ._inputs import rand, randint, randn, signs

_C = 4  # classes / features in the catalogue's inputs


def _maker(
    build: Callable[..., tuple[tuple[torch.Tensor, ...], tuple[bool, ...]]],
) -> Callable[..., LossInputs]:
    def make(
        n: int, *, dtype: torch.dtype, device: torch.device | str, generator: torch.Generator
    ) -> LossInputs:
        args, batched = build(n, dtype, device, generator)
        return LossInputs(args=args, batched=batched)

    return make


def _two(n, dtype, device, g):
    return (
        randn(g, n, _C, dtype=dtype, device=device),
        randn(g, n, _C, dtype=dtype, device=device),
    ), (True, True)


def _logits_labels(n, dtype, device, g):
    return (randn(g, n, _C, dtype=dtype, device=device), randint(g, _C, n, device=device)), (
        True,
        True,
    )


def _logprobs_labels(n, dtype, device, g):
    x = randn(g, n, _C, dtype=torch.float64).log_softmax(1).to(device=device, dtype=dtype)
    return (x, randint(g, _C, n, device=device)), (True, True)


def _logprobs_labels_2d(n, dtype, device, g):
    x = randn(g, n, _C, 3, 5, dtype=torch.float64).log_softmax(1).to(device=device, dtype=dtype)
    return (x, randint(g, _C, n, 3, 5, device=device)), (True, True)


def _kl(n, dtype, device, g):
    x = randn(g, n, _C, dtype=torch.float64).log_softmax(1).to(device=device, dtype=dtype)
    y = randn(g, n, _C, dtype=torch.float64).softmax(1).to(device=device, dtype=dtype)
    return (x, y), (True, True)


def _probs_targets(n, dtype, device, g):
    p = (rand(g, n, _C, dtype=torch.float64) * 0.9 + 0.05).to(device=device, dtype=dtype)
    return (p, rand(g, n, _C, dtype=dtype, device=device)), (True, True)


def _logits_targets(n, dtype, device, g):
    return (
        randn(g, n, _C, dtype=dtype, device=device),
        rand(g, n, _C, dtype=dtype, device=device),
    ), (True, True)


def _ranking(n, dtype, device, g):
    return (
        randn(g, n, dtype=dtype, device=device),
        randn(g, n, dtype=dtype, device=device),
        signs(g, n, dtype=dtype, device=device),
    ), (True, True, True)


def _hinge(n, dtype, device, g):
    return (
        rand(g, n, dtype=dtype, device=device) * 2.0,
        signs(g, n, dtype=dtype, device=device),
    ), (True, True)


def _multilabel_margin(n, dtype, device, g):
    # each row: a random number of target classes, then -1 padding
    target = torch.full((n, _C), -1, dtype=torch.long)
    for i in range(n):
        k = int(torch.randint(1, _C, (1,), generator=g))
        target[i, :k] = torch.randperm(_C, generator=g)[:k]
    return (randn(g, n, _C, dtype=dtype, device=device), target.to(device)), (True, True)


def _soft_margin(n, dtype, device, g):
    return (
        randn(g, n, _C, dtype=dtype, device=device),
        signs(g, n, _C, dtype=dtype, device=device),
    ), (True, True)


def _multilabel_soft(n, dtype, device, g):
    y = (signs(g, n, _C, dtype=dtype, device=device) + 1) / 2
    return (randn(g, n, _C, dtype=dtype, device=device), y), (True, True)


def _cosine_embedding(n, dtype, device, g):
    return (
        randn(g, n, 5, dtype=dtype, device=device),
        randn(g, n, 5, dtype=dtype, device=device),
        signs(g, n, dtype=dtype, device=device),
    ), (True, True, True)


def _gaussian_nll(n, dtype, device, g):
    var = (rand(g, n, _C, dtype=torch.float64) + 0.2).to(device=device, dtype=dtype)
    return (
        randn(g, n, _C, dtype=dtype, device=device),
        randn(g, n, _C, dtype=dtype, device=device),
        var,
    ), (True, True, True)


def _poisson_nll(n, dtype, device, g):
    # log-rates and non-negative counts
    counts = torch.poisson(torch.full((n, _C), 3.0, dtype=torch.float64), generator=g)
    return (
        randn(g, n, _C, dtype=dtype, device=device),
        counts.to(device=device, dtype=dtype),
    ), (True, True)


def _triplet(n, dtype, device, g):
    return tuple(randn(g, n, 5, dtype=dtype, device=device) for _ in range(3)), (True,) * 3


_T, _S = 6, 3  # CTC: input frames and padded target length


def _ctc(n, dtype, device, g):
    # batch-first (N, T, C) log-probabilities; padded (N, S) targets of labels 1..C-1 (0 is
    # the blank); every input uses all T frames, targets have 1..S labels
    x = randn(g, n, _T, _C, dtype=torch.float64).log_softmax(2).to(device=device, dtype=dtype)
    targets = (randint(g, _C - 1, n, _S) + 1).to(device)
    input_lengths = torch.full((n,), _T, dtype=torch.long, device=device)
    target_lengths = (randint(g, _S, n) + 1).to(device)
    return (x, targets, input_lengths, target_lengths), (True, True, True, True)


_IN, _CUTOFFS, _N_CLASSES = 6, (3, 6), 9  # adaptive softmax: features, clusters, classes


def _features_labels(classes: int):
    def build(n, dtype, device, g):
        x = randn(g, n, _IN, dtype=dtype, device=device)
        return (x, randint(g, classes, n, device=device)), (True, True)

    return build


def ctc_loss_batch_first(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    *,
    blank: int = 0,
    zero_infinity: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """``torch.nn.functional.ctc_loss`` on batch-first ``(N, T, C)`` log-probabilities.

    torch takes ``(T, N, C)``; the catalogue's entries have the batch first (the shared tests
    permute dim 0), so this adapter transposes and calls torch. An empty batch, which torch
    refuses (``log_probs tensor must not be empty``), gives what torch's other losses give:
    NaN for ``"mean"``, 0 for ``"sum"``, an empty tensor for ``"none"``. The input passes
    through ``log_softmax`` first: no change of value for log-probabilities, and an exact
    gradient (torch's backward is the gradient through a ``log_softmax``, so on its own it
    fails a finite-difference check in the directions that leave the simplex).
    """
    if log_probs.shape[0] == 0:
        empty = log_probs.sum((1, 2))
        if reduction == "none":
            return empty
        total = empty.sum()
        return total if reduction == "sum" else total / 0.0
    # log_softmax of log-probabilities changes no value; it makes the gradient exact: torch's
    # CTC backward returns the gradient through a log_softmax (it assumes one came before)
    return TF.ctc_loss(
        log_probs.log_softmax(2).transpose(0, 1), targets, input_lengths, target_lengths,
        blank=blank, reduction=reduction, zero_infinity=zero_infinity,
    )  # fmt: skip


class CTCLossBatchFirst(nn.CTCLoss):
    """``torch.nn.CTCLoss`` on batch-first ``(N, T, C)`` log-probabilities (see
    :func:`ctc_loss_batch_first`)."""

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss_batch_first(
            log_probs, targets, input_lengths, target_lengths,
            blank=self.blank, zero_infinity=self.zero_infinity, reduction=self.reduction,
        )  # fmt: skip


def linear_cross_entropy_loss(
    input: torch.Tensor, target: torch.Tensor, linear_weight: torch.Tensor, **kw: Any
) -> torch.Tensor:
    """``torch.nn.functional.linear_cross_entropy(input, linear_weight, target, ...)`` with the
    classifier after the inputs (the registry passes a module's state after the inputs)."""
    return TF.linear_cross_entropy(input, linear_weight, target, **kw)


class LinearCrossEntropyWithState(nn.LinearCrossEntropyLoss):
    """``torch.nn.LinearCrossEntropyLoss`` that hands its classifier weight to the function
    form (``state_tensors``); the forward is torch's."""

    def state_tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.linear.weight,)


def adaptive_log_softmax_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    asm: nn.AdaptiveLogSoftmaxWithLoss,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """The loss of ``torch.nn.AdaptiveLogSoftmaxWithLoss`` with a reduction.

    torch's module returns ``(output, loss)``: ``output`` the target log-probabilities,
    ``loss = -output.mean()``. Here ``"none"`` is ``-output``, ``"mean"`` torch's ``loss``
    (NaN for an empty batch, as torch's), ``"sum"`` ``-output.sum()``.
    """
    out = nn.AdaptiveLogSoftmaxWithLoss.forward(asm, input, target).output
    if reduction == "none":
        return -out
    return -out.sum() if reduction == "sum" else -out.mean()


class AdaptiveLogSoftmaxLoss(nn.AdaptiveLogSoftmaxWithLoss):
    """``torch.nn.AdaptiveLogSoftmaxWithLoss`` whose ``forward`` returns the loss with a
    ``reduction`` (torch's returns ``(output, loss)``); its computation is torch's."""

    def __init__(self, in_features: int, n_classes: int, cutoffs, *, reduction: str = "mean",
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(in_features, n_classes, cutoffs, **kw)
        self.reduction = reduction

    def state_tensors(self) -> tuple[nn.Module, ...]:
        return (self,)

    def forward(self, input, target):
        return adaptive_log_softmax_loss(input, target, self, reduction=self.reduction)


# --- what `losskit explain` draws for each catalogue entry -------------------------------
_Z = torch.linspace(-6.0, 6.0, 481, dtype=torch.float64)  # a logit or a score difference
_P = torch.linspace(0.005, 0.995, 397, dtype=torch.float64)  # a probability
_D = torch.linspace(-3.0, 3.0, 481, dtype=torch.float64)  # a residual


def _residual(fn: Callable, **kw: Any) -> Callable[[], tuple[Panel, ...]]:
    def panels() -> tuple[Panel, ...]:
        c = scalar_curve("loss", _D, lambda t: fn(t, torch.zeros_like(t), reduction="none", **kw))
        return (Panel("over the residual", "residual d = input - target", _D, (c,)),)

    return panels


def _target_margin(fn: Callable, note: str, **kw: Any) -> Callable[[], tuple[Panel, ...]]:
    """Logits (z, 0, 0, 0) with target class 0: the loss over the target's lead z."""

    def panels() -> tuple[Panel, ...]:
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            logits = torch.cat([t[:, None], torch.zeros(len(t), _C - 1, dtype=t.dtype)], 1)
            return fn(logits, torch.zeros(len(t), dtype=torch.long), reduction="none", **kw)

        c = scalar_curve("target class 0 of 4", _Z, loss_of)
        return (
            Panel(
                "over the target logit's lead",
                "z = logit of the target - other logits",
                _Z,
                (c,),
                note,
            ),
        )

    return panels


def _nll_panels() -> tuple[Panel, ...]:
    def loss_of(p: torch.Tensor) -> torch.Tensor:
        rest = ((1 - p) / (_C - 1))[:, None].expand(-1, _C - 1)
        logp = torch.cat([p[:, None], rest], 1).log()
        return TF.nll_loss(logp, torch.zeros(len(p), dtype=torch.long), reduction="none")

    c = scalar_curve("-log p_target", _P, loss_of)
    return (
        Panel(
            "over the target's probability",
            "p of the target class",
            _P,
            (c,),
            "Unbounded as p -> 0.",
        ),
    )


def _kl_panels() -> tuple[Panel, ...]:
    def make(target: float) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss_of(q: torch.Tensor) -> torch.Tensor:
            logq = torch.stack([q, 1 - q], 1).log()
            y = torch.tensor([target, 1 - target], dtype=q.dtype).expand(len(q), 2)
            return TF.kl_div(logq, y, reduction="none").sum(1)

        return loss_of

    curves = tuple(scalar_curve(f"target ({a:g}, {1 - a:g})", _P, make(a)) for a in (0.5, 0.8))
    return (
        Panel(
            "over the predicted distribution (q, 1 - q)",
            "q",
            _P,
            curves,
            "Zero where q equals the target.",
        ),
    )


def _binary_panels(
    fn: Callable, x: torch.Tensor, xlabel: str, labels: tuple[float, float]
) -> Callable[[], tuple[Panel, ...]]:
    def panels() -> tuple[Panel, ...]:
        curves = tuple(
            scalar_curve(
                f"target {y:g}", x, lambda t, y=y: fn(t, torch.full_like(t, y), reduction="none")
            )
            for y in labels
        )
        return (Panel(f"over {xlabel}", xlabel, x, curves),)

    return panels


def _ranking_panels() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"y = 1, margin {m:g}",
            _Z,
            lambda t, m=m: TF.margin_ranking_loss(
                t, torch.zeros_like(t), torch.ones_like(t), margin=m, reduction="none"
            ),
        )
        for m in (0.0, 1.0)
    )
    return (
        Panel(
            "over the score difference",
            "x1 - x2",
            _Z,
            curves,
            "Zero once x1 leads x2 by the margin.",
        ),
    )


def _hinge_panels() -> tuple[Panel, ...]:
    x = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)
    curves = tuple(
        scalar_curve(
            f"y = {y:+d}",
            x,
            lambda t, y=y: TF.hinge_embedding_loss(
                t, torch.full_like(t, float(y)), margin=1.0, reduction="none"
            ),
        )
        for y in (1, -1)
    )
    return (Panel("over the input distance", "distance x (margin 1)", x, curves),)


def _multilabel_margin_panels() -> tuple[Panel, ...]:
    def loss_of(t: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([t[:, None], torch.zeros(len(t), _C - 1, dtype=t.dtype)], 1)
        target = torch.tensor([0] + [-1] * (_C - 1)).expand(len(t), _C)
        return TF.multilabel_margin_loss(logits, target, reduction="none")

    c = scalar_curve("target {0} of 4", _Z, loss_of)
    return (
        Panel(
            "over the target logit's lead",
            "z = target logit - other logits",
            _Z,
            (c,),
            "Zero once z >= 1.",
        ),
    )


def _cosine_panels() -> tuple[Panel, ...]:
    theta = torch.linspace(0.0, torch.pi, 361, dtype=torch.float64)

    def make(y: float) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss_of(t: torch.Tensor) -> torch.Tensor:
            x1 = torch.stack([torch.ones_like(t), torch.zeros_like(t)], 1)
            x2 = torch.stack([torch.cos(t), torch.sin(t)], 1)
            return TF.cosine_embedding_loss(
                x1, x2, torch.full_like(t, y), margin=0.1, reduction="none"
            )

        return loss_of

    curves = tuple(scalar_curve(f"y = {y:+g}", theta, make(y)) for y in (1.0, -1.0))
    return (
        Panel("over the angle between x1 and x2", "angle (radians), margin 0.1", theta, curves),
    )


def _gaussian_nll_panels() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"variance {v:g}",
            _D,
            lambda t, v=v: TF.gaussian_nll_loss(
                t, torch.zeros_like(t), torch.full_like(t, v), reduction="none"
            ),
        )
        for v in (0.25, 1.0, 4.0)
    )
    var = torch.linspace(0.05, 4.0, 396, dtype=torch.float64)
    over_var = scalar_curve(
        "residual 1",
        var,
        lambda t: TF.gaussian_nll_loss(
            torch.ones_like(t), torch.zeros_like(t), t, reduction="none"
        ),
    )
    return (
        Panel("over the residual", "residual d = input - target", _D, curves,
              "A larger predicted variance flattens the parabola and adds 0.5 log var."),
        Panel("over the predicted variance", "var (residual 1)", var, (over_var,),
              "Minimal where var equals the squared residual."),
    )  # fmt: skip


def _poisson_panels() -> tuple[Panel, ...]:
    curves = tuple(
        scalar_curve(
            f"count {k:g}",
            _D,
            lambda t, k=k: TF.poisson_nll_loss(t, torch.full_like(t, k), reduction="none"),
        )
        for k in (0.0, 1.0, 3.0)
    )
    return (
        Panel("over the log-rate", "log-rate x (rate exp(x))", _D, curves,
              "exp(x) - k x: minimal where the rate exp(x) equals the count k."),
    )  # fmt: skip


def _triplet_panels(fn: Callable, **kw: Any) -> Callable[[], tuple[Panel, ...]]:
    def panels() -> tuple[Panel, ...]:
        dist = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)

        def loss_of(t: torch.Tensor) -> torch.Tensor:
            z = torch.zeros(len(t), 2, dtype=t.dtype)
            a, p = z, z + torch.tensor([0.5, 0.0], dtype=t.dtype)  # d(a, p) = 0.5
            neg = torch.stack([torch.zeros_like(t), t], 1)
            return fn(a, p, neg, reduction="none", **kw)

        c = scalar_curve("d(anchor, positive) = 0.5, margin 1", dist, loss_of)
        return (
            Panel("over the anchor-negative distance", "d(anchor, negative)", dist, (c,),
                  "Zero once the negative is a margin farther than the positive."),
        )  # fmt: skip

    return panels


def _ctc_panels() -> tuple[Panel, ...]:
    # 3 frames, classes (blank, a): the target "a"; every frame gives "a" logit z, blank 0
    def loss_of(t: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([torch.zeros_like(t), t], 1)[:, None, :].expand(-1, 3, 2)
        lp = logits.log_softmax(2)
        k = len(t)
        return ctc_loss_batch_first(
            lp, torch.ones(k, 1, dtype=torch.long), torch.full((k,), 3, dtype=torch.long),
            torch.ones(k, dtype=torch.long), reduction="none",
        )  # fmt: skip

    c = scalar_curve("target 'a', 3 frames", _Z, loss_of)
    return (
        Panel("over the label's logit (blank at 0)", "logit of 'a' in every frame", _Z, (c,),
              "-log of the summed probability of every alignment that collapses to 'a'."),
    )  # fmt: skip


def _classifier_panels(make: Callable[[], nn.Module]) -> Callable[[], tuple[Panel, ...]]:
    """The loss over a scaling of the feature along the target class's direction."""

    def panels() -> tuple[Panel, ...]:
        torch.manual_seed(0)
        m = make().double()
        x0 = torch.randn(_IN, dtype=torch.float64)

        def loss_of(t: torch.Tensor) -> torch.Tensor:
            x = t[:, None] * x0
            y = torch.zeros(len(t), dtype=torch.long)
            return m(x, y)

        c = scalar_curve("class 0, feature t * x0", _Z, loss_of)
        return (
            Panel("over the feature's scale", "t (feature = t x0, fixed random x0)", _Z, (c,),
                  "The loss of a linear classifier on a feature that grows along one direction."),
        )  # fmt: skip

    return panels


def _torch_class(module: type[nn.Module]) -> type[nn.Module]:
    return next(c for c in module.__mro__ if c.__module__.startswith("torch.nn"))


def _spec(
    name: str, function: Callable, module: type[nn.Module], maker: Callable, *, summary: str,
    formula: str, when_to_use: str, paper: str = "", **kw: Any,
) -> LossSpec:  # fmt: skip
    """A catalogue entry: torch's function and class; the text torch's docstrings lack."""
    kw.setdefault("empty_mean", "nan")
    text = {"summary": summary, "formula": formula, "when_to_use": when_to_use, "paper": paper}
    return LossSpec(
        name=name,
        family="pytorch",
        function=function,
        module=module,
        make_inputs=_maker(maker),
        # the torch class itself, also for the catalogue's thin adapters (CTCLossBatchFirst)
        delegates_to=f"torch.nn.{_torch_class(module).__name__}",
        text=text,
        **kw,
    )


SPECS = [
    _spec(
        "L1Loss",
        TF.l1_loss,
        nn.L1Loss,
        _two,
        summary="Mean absolute error.",
        formula="l_n = |x_n - y_n|",
        when_to_use="Regression robust to outliers; see losskit.l1_loss for the weighted form.",
        grad_args=(0, 1),
        explain=_residual(TF.l1_loss),
    ),
    _spec(
        "MSELoss",
        TF.mse_loss,
        nn.MSELoss,
        _two,
        summary="Mean squared error.",
        formula="l_n = (x_n - y_n)^2",
        when_to_use="Regression under Gaussian noise; large errors dominate the gradient.",
        grad_args=(0, 1),
        explain=_residual(TF.mse_loss),
    ),
    _spec(
        "CrossEntropyLoss",
        TF.cross_entropy,
        nn.CrossEntropyLoss,
        _logits_labels,
        summary="Softmax followed by negative log-likelihood, on raw logits.",
        formula="l_n = -log softmax(x_n)_{y_n} = -x_{n,y_n} + log sum_c exp(x_{n,c})",
        when_to_use=(
            "Mutually exclusive classes (one label per sample). Takes logits, not "
            "probabilities; supports class weights, ignore_index, label smoothing and "
            "probability targets. Its gradient is softmax(x) - onehot(y)."
        ),
        explain=_target_margin(
            TF.cross_entropy,
            "Gradient softmax - 1: large while the target trails, vanishing once it leads.",
        ),
    ),
    _spec(
        "NLLLoss",
        TF.nll_loss,
        nn.NLLLoss,
        _logprobs_labels,
        summary="Negative log-likelihood of log-probabilities.",
        formula="l_n = -x_{n,y_n}, x = log-probabilities",
        when_to_use=(
            "After an explicit log_softmax layer (CrossEntropyLoss = LogSoftmax + NLLLoss). "
            "Feeding it raw logits or probabilities is a silent bug: it only picks x[y]."
        ),
        explain=_nll_panels,
    ),
    _spec(
        "NLLLoss2d",
        TF.nll_loss,
        nn.NLLLoss,
        _logprobs_labels_2d,
        summary="NLLLoss on dense (N, C, H, W) log-probabilities (the retired NLLLoss2d).",
        formula="l_{n,h,w} = -x_{n,y_{n,h,w},h,w}",
        when_to_use=(
            "Per-pixel classification (semantic segmentation). torch removed NLLLoss2d: "
            "NLLLoss takes (N, C, d1, d2, ...) inputs with (N, d1, d2, ...) targets directly."
        ),
        explain=_nll_panels,
    ),
    _spec(
        "KLDivLoss",
        TF.kl_div,
        nn.KLDivLoss,
        _kl,
        summary="Kullback-Leibler divergence KL(y || exp(x)), x given as log-probabilities.",
        formula="l = y (log y - x); use reduction='batchmean' for the true KL per sample",
        when_to_use=(
            "Matching a predicted distribution to a target distribution (knowledge "
            "distillation, label smoothing). The input must be log_softmax output and the "
            "target probabilities (or log-probabilities with log_target=True). 'mean' "
            "averages over every element, not per sample: use 'batchmean'."
        ),
        reductions=("none", "batchmean", "sum"),
        explain=_kl_panels,
    ),
    _spec(
        "BCELoss",
        TF.binary_cross_entropy,
        nn.BCELoss,
        _probs_targets,
        summary="Binary cross-entropy on probabilities.",
        formula="l_n = -[y_n log x_n + (1 - y_n) log(1 - x_n)], logs clamped at -100",
        when_to_use=(
            "Binary or multi-label targets when the model already outputs probabilities. "
            "Prefer BCEWithLogitsLoss: it fuses the sigmoid and is numerically stable."
        ),
        explain=_binary_panels(
            TF.binary_cross_entropy, _P, "the predicted probability p", (1.0, 0.0)
        ),
    ),
    _spec(
        "BCEWithLogitsLoss",
        TF.binary_cross_entropy_with_logits,
        nn.BCEWithLogitsLoss,
        _logits_targets,
        summary="Sigmoid + binary cross-entropy in one numerically stable step.",
        formula="l_n = -[y_n log sigma(x_n) + (1 - y_n) log(1 - sigma(x_n))]",
        when_to_use=(
            "Multi-label classification (a film can be American and a comedy) and dense "
            "binary masks. pos_weight > 1 up-weights rare positives."
        ),
        grad_args=(0, 1),
        explain=_binary_panels(TF.binary_cross_entropy_with_logits, _Z, "the logit z", (1.0, 0.0)),
    ),
    _spec(
        "MarginRankingLoss",
        TF.margin_ranking_loss,
        nn.MarginRankingLoss,
        _ranking,
        summary="Hinge on the ordering of two scores.",
        formula="l_n = max(0, -y_n (x1_n - x2_n) + margin), y in {1, -1}",
        when_to_use=(
            "Learning to rank: y = 1 says x1 should score higher than x2 by at least the "
            "margin. The building block of pairwise ranking losses."
        ),
        kwargs={"margin": 0.1},
        grad_args=(0, 1),
        explain=_ranking_panels,
    ),
    _spec(
        "HingeEmbeddingLoss",
        TF.hinge_embedding_loss,
        nn.HingeEmbeddingLoss,
        _hinge,
        summary="Pull similar pairs' distance to 0, push dissimilar ones beyond a margin.",
        formula="l_n = x_n if y_n = 1; max(0, margin - x_n) if y_n = -1",
        when_to_use=(
            "When the input already is a distance (e.g. L1 between two embeddings) and y "
            "says same (1) or different (-1): a contrastive loss with an unsquared hinge."
        ),
        kwargs={"margin": 1.0},
        explain=_hinge_panels,
    ),
    _spec(
        "MultiLabelMarginLoss",
        TF.multilabel_margin_loss,
        nn.MultiLabelMarginLoss,
        _multilabel_margin,
        summary="Multi-class multi-label hinge: every target class above every non-target.",
        formula="l_n = sum_{j in Y_n} sum_{i not in Y_n} max(0, 1 - (x_j - x_i)) / C",
        when_to_use=(
            "Multi-label ranking: each sample's target classes (listed first, padded "
            "with -1) should all outscore every other class by a margin of 1."
        ),
        half=False,
        # torch 2.14 returns uninitialised memory for an empty batch (seen: 0 and 4.6e-310)
        empty_mean="undefined",
        explain=_multilabel_margin_panels,
    ),
    _spec(
        "SmoothL1Loss",
        TF.smooth_l1_loss,
        nn.SmoothL1Loss,
        _two,
        summary="Quadratic for |d| < beta, linear beyond.",
        formula="l_n = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta",
        when_to_use="Bounding-box regression (Fast R-CNN); see losskit.smooth_l1_loss.",
        kwargs={"beta": 1.0},
        grad_args=(0, 1),
        explain=_residual(TF.smooth_l1_loss, beta=1.0),
    ),
    _spec(
        "SoftMarginLoss",
        TF.soft_margin_loss,
        nn.SoftMarginLoss,
        _soft_margin,
        summary="Logistic loss on +-1 labels.",
        formula="l = sum_i log(1 + exp(-y_i x_i)) / numel",
        when_to_use=(
            "Binary classification with labels in {1, -1}; the smooth counterpart of a "
            "hinge. Equivalent to BCEWithLogits with y01 = (y + 1) / 2."
        ),
        explain=_binary_panels(TF.soft_margin_loss, _Z, "the score x", (1.0, -1.0)),
    ),
    _spec(
        "MultiLabelSoftMarginLoss",
        TF.multilabel_soft_margin_loss,
        nn.MultiLabelSoftMarginLoss,
        _multilabel_soft,
        summary="Per-class sigmoid cross-entropy averaged over classes, per sample.",
        formula="l_n = -(1/C) sum_c [y_c log sigma(x_c) + (1 - y_c) log(1 - sigma(x_c))]",
        when_to_use=(
            "Multi-label classification with 0/1 targets; equals BCEWithLogitsLoss averaged "
            "over classes per sample (so 'none' gives one value per sample)."
        ),
        explain=_binary_panels(
            lambda x, y, reduction: TF.multilabel_soft_margin_loss(
                x[:, None], y[:, None], reduction=reduction
            ),
            _Z,
            "the logit z of one class",
            (1.0, 0.0),
        ),
    ),
    _spec(
        "CosineEmbeddingLoss",
        TF.cosine_embedding_loss,
        nn.CosineEmbeddingLoss,
        _cosine_embedding,
        summary="Cosine similarity for similar pairs, margin hinge for dissimilar ones.",
        formula="l_n = 1 - cos(x1_n, x2_n) if y_n = 1; max(0, cos(x1_n, x2_n) - margin) if y_n = -1",
        when_to_use=(
            "Learning embeddings compared by angle (text or face matching) from labelled "
            "pairs; margin in [-1, 1], 0 to 0.5 is typical."
        ),
        kwargs={"margin": 0.1},
        grad_args=(0, 1),
        explain=_cosine_panels,
    ),
    _spec(
        "MultiMarginLoss",
        TF.multi_margin_loss,
        nn.MultiMarginLoss,
        _logits_labels,
        summary="Multi-class hinge (Weston-Watkins / Crammer-Singer style SVM loss).",
        formula="l_n = sum_{i != y} max(0, margin - x_y + x_i)^p / C",
        when_to_use=(
            "A linear SVM-like objective for exclusive classes: only classes within the "
            "margin of the target contribute; well-separated samples cost nothing."
        ),
        kwargs={"p": 1, "margin": 1.0},
        half=False,
        # torch 2.14 returns uninitialised memory for an empty batch (seen: -1.3e-14, 4.6e-310)
        empty_mean="undefined",
        explain=_target_margin(
            TF.multi_margin_loss, "Zero once the target leads every other class by the margin (1)."
        ),
    ),
    _spec(
        "HuberLoss",
        TF.huber_loss,
        nn.HuberLoss,
        _two,
        summary="Quadratic for |d| < delta, linear beyond (Huber's loss).",
        formula="l_n = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)",
        when_to_use=(
            "Regression with outliers: MSE near zero, L1 far away; equals delta * SmoothL1 "
            "with beta = delta. See losskit.huber_loss for the weighted form."
        ),
        paper="Huber, 'Robust Estimation of a Location Parameter', Ann. Math. Statist. 1964",
        kwargs={"delta": 1.0},
        grad_args=(0, 1),
        explain=_residual(TF.huber_loss, delta=1.0),
    ),
    _spec(
        "GaussianNLLLoss",
        TF.gaussian_nll_loss,
        nn.GaussianNLLLoss,
        _gaussian_nll,
        summary="Negative log-likelihood of a Gaussian with a predicted mean and variance.",
        formula="l_n = 0.5 (log max(var_n, eps) + (x_n - y_n)^2 / max(var_n, eps)) (+ 0.5 log 2 pi)",
        when_to_use=(
            "Regression that predicts its own uncertainty (heteroscedastic): the model "
            "outputs a mean and a variance per target; large variance discounts the residual "
            "at a log-variance cost."
        ),
        paper=(
            "Nix, Weigend, 'Estimating the mean and variance of the target probability "
            "distribution', ICNN 1994"
        ),
        grad_args=(0, 1, 2),
        fullgraph=False,  # torch checks var >= 0 with a data-dependent branch
        explain=_gaussian_nll_panels,
    ),
    _spec(
        "PoissonNLLLoss",
        TF.poisson_nll_loss,
        nn.PoissonNLLLoss,
        _poisson_nll,
        summary="Negative log-likelihood of a Poisson count with a predicted (log-)rate.",
        formula="l_n = exp(x_n) - y_n x_n (log_input=True; + Stirling term with full=True)",
        when_to_use=(
            "Count regression (events per interval, photon counts, crowd counts): the "
            "model predicts the log-rate; the target is a non-negative count."
        ),
        grad_args=(0,),
        explain=_poisson_panels,
    ),
    _spec(
        "TripletMarginLoss",
        TF.triplet_margin_loss,
        nn.TripletMarginLoss,
        _triplet,
        summary="Hinge on anchor-positive vs anchor-negative p-norm distances.",
        formula="l_n = max(0, ||a_n - p_n||_p - ||a_n - n_n||_p + margin)",
        when_to_use=(
            "Metric learning from explicit triplets (face, person re-identification); "
            "see losskit.triplet_loss for batch mining and cosine distance."
        ),
        paper=(
            "Schroff, Kalenichenko, Philbin, 'FaceNet: A Unified Embedding for Face "
            "Recognition and Clustering', CVPR 2015, arXiv:1503.03832"
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1, 2),
        explain=_triplet_panels(TF.triplet_margin_loss, margin=1.0),
    ),
    _spec(
        "TripletMarginWithDistanceLoss",
        TF.triplet_margin_with_distance_loss,
        nn.TripletMarginWithDistanceLoss,
        _triplet,
        summary="Triplet hinge with any distance function (default: pairwise Euclidean).",
        formula="l_n = max(0, d(a_n, p_n) - d(a_n, n_n) + margin)",
        when_to_use=(
            "Triplets compared by a custom distance (cosine, a learned metric): pass "
            "distance_function; the default is the Euclidean pairwise distance."
        ),
        kwargs={"margin": 1.0},
        grad_args=(0, 1, 2),
        explain=_triplet_panels(TF.triplet_margin_with_distance_loss, margin=1.0),
    ),
    _spec(
        "CTCLoss",
        ctc_loss_batch_first,
        CTCLossBatchFirst,
        _ctc,
        summary="Connectionist temporal classification: -log of every alignment's summed probability.",
        formula="l_n = -log sum_{pi in B^-1(y_n)} prod_t p_t(pi_t); 'mean' divides each by its target length",
        when_to_use=(
            "Sequence labelling without a frame alignment (speech, handwriting, OCR): the "
            "input is per-frame log-probabilities with a blank class. The catalogue's entry "
            "takes them batch-first (N, T, C) and transposes for torch's (T, N, C)."
        ),
        paper=(
            "Graves, Fernandez, Gomez, Schmidhuber, 'Connectionist Temporal Classification', "
            "ICML 2006"
        ),
        half=False,  # torch's CPU kernel has no half precision
        fullgraph=False,  # aten._ctc_loss has a data-dependent output shape
        explain=_ctc_panels,
    ),
    _spec(
        "LinearCrossEntropyLoss",
        linear_cross_entropy_loss,
        LinearCrossEntropyWithState,
        _features_labels(_C),
        summary="A linear classifier followed by cross-entropy, computed in one step.",
        formula="l_n = -log softmax(W x_n (+ b))_{y_n}",
        when_to_use=(
            "Language-model heads with very many classes: torch can chunk the vocabulary "
            "so the (N, C) logits never exist at once. The module owns W (in_features, "
            "num_classes); the function takes it after the inputs."
        ),
        module_kwargs={"in_features": _IN, "num_classes": _C},
        half=False,  # the classifier is float32: torch refuses a half input against it
        explain=_classifier_panels(lambda: nn.LinearCrossEntropyLoss(_IN, _C, reduction="none")),
    ),
    _spec(
        "AdaptiveLogSoftmaxWithLoss",
        adaptive_log_softmax_loss,
        AdaptiveLogSoftmaxLoss,
        _features_labels(_N_CLASSES),
        summary="Adaptive softmax: frequent classes in a head, rare ones in smaller clusters.",
        formula="log p(y) = log p_head(cluster(y)) + log p_cluster(y | cluster); l_n = -log p(y_n)",
        when_to_use=(
            "Language models over large, Zipf-distributed vocabularies: sort classes by "
            "frequency; rare ones cost a smaller projection. torch's module returns "
            "(output, loss); the catalogue's adapter returns the loss with a reduction."
        ),
        paper=(
            "Grave, Joulin, Cisse, Grangier, Jegou, 'Efficient softmax approximation for "
            "GPUs', ICML 2017, arXiv:1609.04309"
        ),
        module_kwargs={"in_features": _IN, "n_classes": _N_CLASSES, "cutoffs": _CUTOFFS},
        half=False,  # the projections are float32: torch refuses a half input against them
        fullgraph=False,  # torch selects each cluster's rows with data-dependent nonzero()
        explain=_classifier_panels(
            lambda: AdaptiveLogSoftmaxLoss(_IN, _N_CLASSES, _CUTOFFS, reduction="none")
        ),
    ),
]
