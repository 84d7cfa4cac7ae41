"""The vocabulary: every argument name losskit uses, with its one meaning.

``tests/test_vocabulary.py`` reads the signature of every public function and module and
fails when a name outside this table appears, when a name is used with an annotation (a
meaning) the table does not allow, or where a positional/keyword role differs from the
table's. The README's conventions section shows this table (rendered by :func:`markdown`; a
test keeps the two identical).

Roles:

* ``input``: a positional tensor of the call (the model's output, the target, labels, state
  the function takes after them);
* ``data``: a keyword argument that belongs to one call (``weight``, ``mask``, ``shard``):
  passed to ``forward``, never to a module's constructor;
* ``option``: a keyword-only hyperparameter of the function and of its module's constructor;
* ``size``: a positional constructor argument of a module that owns state (``num_classes``,
  ``embedding_dim``, always in that order: the shape of ``centers``);
* ``module``: a keyword-only constructor argument a module has and its function has not.

An annotation is named by its alias in :mod:`losskit._checks` (``Positive``, ``Weight``...) or
by its Literal type's alias (``Reduction``, ``BoxFormat``...), so the table says what values
each name accepts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    meaning: str
    shape: str
    default: str
    roles: tuple[str, ...]
    #: the annotations (alias names) a function may give this argument; empty: any
    annotations: tuple[str, ...] = ()


T = Term

VOCABULARY: dict[str, Term] = {
    # ---- the model's output, named by what it is
    "pred": T("predicted values in the units of the target (regression)", "`(*)`", "", ("input",), ("Tensor",)),
    "logits": T("raw scores; a sigmoid or softmax is applied inside. With `from_logits=False`, probabilities", "`(*)`, `(N, C, *)`", "", ("input",), ("Tensor",)),
    "boxes": T("predicted boxes", "`(*, 4)`", "", ("input",), ("Tensor",)),
    "embeddings": T("feature vectors, one per sample", "`(N, D)`", "", ("input",), ("Tensor",)),
    "anchor": T("explicit pairs and triplets: the anchor embeddings", "`(N, D)`", "", ("input",), ("Tensor",)),
    "paired": T("explicit pairs: row `i` is paired with `anchor[i]`", "`(N, D)`", "", ("input",), ("Tensor",)),
    "positive": T("explicit triplets: an embedding of the anchor's identity", "`(N, D)`", "", ("input",), ("Tensor",)),
    "negative": T("explicit triplets: an embedding of another identity", "`(N, D)`", "", ("input",), ("Tensor",)),
    "boxes1": T("pairwise box similarities: the first set", "`(*, N, 4)`", "", ("input",), ("Tensor",)),
    "boxes2": T("pairwise box similarities: the second set", "`(*, M, 4)`", "", ("input",), ("Tensor",)),
    # ---- what the output is compared with
    "target": T("the reference, the shape of the prediction (values, 0/1 or soft labels, boxes; for pairs 1 = same identity); integer class indices `(N, *)` where a loss takes both forms (`softmax_cross_entropy`, the overlap losses' multiclass mode)", "as the prediction", "", ("input",), ("Tensor",)),
    "labels": T("integer class (identity) indices, any integer dtype", "`(N,)`, `(N, *)`", "", ("input",), ("Tensor",)),
    # ---- state a function takes after its inputs (a module owns it)
    "centers": T("one learned vector per class: class centres, the margin heads' classifier rows", "`(C, D)`; `(C, K, D)` sub-centres", "", ("input",), ("Tensor",)),
    "bias": T("a per-class bias (function); whether the module owns one (module, `nn.Linear`'s convention)", "`(C,)`", "module: `True`", ("input", "module"), ("Tensor | None",)),
    "radius": T("the ring radius (function: a tensor or number; module: its initial value)", "scalar", "module: 1", ("input", "module"), ("Tensor | float",)),
    # ---- per-call data
    "weight": T("the per-element or per-sample reduction weight, `>= 0`: `\"mean\"` is `sum(w l) / sum(w)`", "broadcastable to the `\"none\"` output; `(N,)` per sample", "`None`", ("data",), ("Weight",)),
    "mask": T("which entries count: bool, `False` = left out of every sum and count, read 0 under `\"none\"`", "as `weight`", "`None`", ("data",), ("Mask",)),
    "shard": T("the class shard when `ClassShardedLoss` splits the classes across ranks", "`ClassShard`", "`None`", ("data",), ("ClassShard | None",)),
    # ---- reduction and exclusion
    "reduction": T("`\"none\"`, `\"mean\"` or `\"sum\"`", "", "`\"mean\"`", ("option",), ("Reduction",)),
    "ignore_index": T("labels equal to it are left out (sugar for `mask=labels != ignore_index`); `None` for none", "int", "`-100`", ("option",), ("int | None",)),
    "class_weight": T("one weight per class, `>= 0`", "`(C,)`", "`None`", ("option",), ("ClassWeight",)),
    "pos_weight": T("weight of the positive term of binary cross-entropy, `>= 0`", "number or broadcastable", "required", ("option",), ("PosWeight",)),
    # ---- probabilities
    "from_logits": T("the prediction holds logits (`True`) or probabilities", "bool", "`True`", ("option",), ("bool",)),
    "eps": T("a small positive constant: added to denominators, floors of norms, the probability clamp `[eps, 1 - eps]`", "float", "`1e-7` (norms `1e-8`)", ("option",), ("Positive", "ProbabilityEps")),
    "label_smoothing": T("`eps` in `[0, 1]`: the target becomes `(1 - eps) y + eps / C`", "float", "`0`", ("option",), ("UnitInterval",)),
    "alpha": T("the focal loss's balance factor `alpha_t` (part of the loss, not of the mean's count)", "number, `(C,)` or broadcastable", "`0.25` (sigmoid), `None` (softmax)", ("option",), ("FocalAlpha", "ClassAlpha")),
    "gamma": T("a focusing exponent (focal losses, focal Tversky)", "float", "`2` (focal), `0.75` (focal Tversky)", ("option",), ("NonNegative", "Positive")),
    "per_sample": T("statistics per sample (`True`) or over the whole batch", "bool", "`True`", ("option",), ("bool",)),
    # ---- regression
    "beta": T("Smooth L1's switch point", "float", "`1`", ("option",), ("NonNegative",)),
    "delta": T("Huber's switch point", "float", "`1`", ("option",), ("Positive",)),
    # ---- masks
    "mode": T("`\"binary\"`, `\"multiclass\"` or `\"multilabel\"`", "", "`\"binary\"`", ("option",), ("Mode",)),
    "smooth": T("added to the numerator and denominator of an overlap ratio, `>= 0`", "float", "`1`", ("option",), ("NonNegative",)),
    "squared_pred": T("Dice: sums of squares in the denominator (V-Net)", "bool", "`False`", ("option",), ("bool",)),
    "fp_weight": T("Tversky: the weight of false positives (the paper's alpha)", "float", "`0.5`", ("option",), ("NonNegative",)),
    "fn_weight": T("Tversky: the weight of false negatives (the paper's beta)", "float", "`0.5`", ("option",), ("NonNegative",)),
    # ---- boxes
    "box_format": T("`\"xyxy\"`, `\"xywh\"` or `\"cxcywh\"`", "", "`\"xyxy\"`", ("option",), ("BoxFormat",)),
    "alpha_mode": T("CIoU's trade-off weight: `\"detach\"`, `\"grad\"` or `\"threshold\"`", "", "`\"detach\"`", ("option",), ("AlphaMode",)),
    "v_grad": T("CIoU's aspect gradient: `\"exact\"` or `\"paper\"`", "", "`\"exact\"`", ("option",), ("VGrad",)),
    "shape_exponent": T("SIoU's shape-cost exponent theta", "float", "`4`", ("option",), ("Positive",)),
    "in_fmt": T("`box_convert`: the format of the boxes given", "", "", ("input",), ("str",)),
    "out_fmt": T("`box_convert`: the format wanted", "", "", ("input",), ("str",)),
    # ---- distances and embeddings
    "margin": T("the margin of a hinge, in the units of what it compares: a distance (pair, triplet, range losses) or an angle in radians (ArcFace)", "float", "per loss", ("option",), ("NonNegative", "Angle")),
    "distance": T("`\"euclidean\"` or `\"cosine\"` (`1 - cos`)", "", "`\"euclidean\"`", ("option",), ("Distance",)),
    "squared": T("use the squared euclidean distance", "bool", "`False`", ("option",), ("bool",)),
    "soft": T("softplus instead of the hinge", "bool", "`False`", ("option",), ("bool",)),
    "swap": T("the triplet distance swap", "bool", "`False`", ("option",), ("bool",)),
    "mining": T("`\"all\"`, `\"hard\"` or `\"semihard\"` triplets", "", "`\"all\"` (loss), `\"hard\"` (miner)", ("option",), ("Mining",)),
    "mean_over": T("what `\"mean\"` divides by: `\"all\"` or `\"active\"` triplets", "", "`\"all\"`", ("option",), ("MeanOver",)),
    # ---- constraint losses
    "sparse": T("a sparse gradient for the centres (only the batch's rows)", "bool", "`False` (function), `True` (`CenterLoss`)", ("option",), ("bool",)),
    "update_rate": T("the centre loss paper's centre learning rate", "float in `[0, 1]`", "`0.5`", ("option", "module"), ("UnitInterval",)),
    "update": T("how `CenterLoss` moves its centres: `\"paper\"` or `\"optimizer\"`", "", "`\"paper\"`", ("module",)),
    "invariant_weight": T("centre-invariant loss: the weight of the invariant term", "float", "`1`", ("option",), ("NonNegative",)),
    "k": T("range loss: how many of a class's largest distances", "int", "`2`", ("option",), ("PositiveInt",)),
    "intra_weight": T("range loss: the weight of the intra-class term", "float", "`1`", ("option",), ("NonNegative",)),
    "inter_weight": T("range loss: the weight of the inter-class term", "float", "`1`", ("option",), ("NonNegative",)),
    # ---- angular margins
    "scale": T("the logit scale `s` (a one-element tensor to learn it)", "number or tensor", "per loss", ("option",), ("Scale", "Positive")),
    "m": T("the multiplicative angular margin (an integer for L-Softmax and SphereFace)", "number", "`4` (L-Softmax, SphereFace), `1` (combined)", ("option",), ("Positive", "PositiveInt")),
    "cos_margin": T("the additive cosine margin (CosFace), in cosine units", "float", "per loss", ("option",), ("NonNegative",)),
    "lambda_": T("the annealing weight of L-Softmax and SphereFace", "float", "`0`", ("option", "input"), ("NonNegative", "float")),
    "easy_margin": T("apply the margin only where `cos theta > 0`", "bool", "`False`", ("option",), ("bool",)),
    "fallback": T("how the target continues past `m theta + margin = pi`: `\"auto\"`, `\"monotone\"`, `\"linear\"`", "", "`\"auto\"`", ("option",), ("Fallback",)),
    "grad_mode": T("`\"exact\"` or `\"straight_through\"` (insightface's margin under `no_grad`)", "", "`\"exact\"`", ("option",), ("GradMode",)),
    "chunk_size": T("classes per block: never more logits at once, recomputed in backward (`None`: dense)", "int", "`None`", ("option",), ("PositiveInt | None",)),
    "sample_rate": T("Partial FC: the fraction of classes sampled in training mode", "float in `(0, 1]`", "`1` (modules)", ("option", "module"), ("Fraction",)),
    "learn_scale": T("a margin head learns its `scale`", "bool", "`False`", ("module",)),
    "subcenters": T("sub-center ArcFace: centres per class `K`", "int", "`3`", ("module",)),
    "generator": T("a `torch.Generator` for random draws (reproducible tests)", "", "`None`", ("option",), ("torch.Generator | None",)),
    "points": T("`sphereface_effective_margin`: the angles sampled", "int", "`2001`", ("option",), ("PositiveInt",)),
    # ---- sizes and allocation (module constructors)
    "num_classes": T("the number of classes `C`", "int", "", ("size", "input"), ("int",)),
    "embedding_dim": T("the embedding dimension `D`", "int", "", ("size",)),
    "device": T("where a module allocates its state", "", "`None`", ("module",)),
    "dtype": T("the dtype of a module's state", "", "`None`", ("module",)),
    # ---- geometry helpers
    "a": T("vector helpers: the first tensor of vectors", "`(*, D)`, `(N, D)`", "", ("input",), ("Tensor",)),
    "b": T("vector helpers: the second tensor of vectors", "`(*, D)`, `(M, D)`", "", ("input",), ("Tensor", "Tensor | None")),
    "x": T("a tensor (the helpers `safe_sqrt`, `safe_norm`, `normalize`)", "any", "", ("input",), ("Tensor",)),
    "dim": T("the vector dimension", "int", "`-1`", ("input", "option"), ("int",)),
    "keepdim": T("keep the reduced dimension", "bool", "`False`", ("input", "option"), ("bool",)),
    "cos": T("cosines", "any", "", ("input",), ("Tensor",)),
    "theta": T("angles in radians", "any", "", ("input",), ("Tensor",)),
    "dist": T("Euclidean distances between unit vectors", "any", "", ("input",), ("Tensor",)),
    "dice": T("a Dice score", "tensor or float", "", ("input",), ("Tensor | float",)),
    "iou": T("an IoU", "tensor or float", "", ("input",), ("Tensor | float",)),
}


def markdown() -> str:
    """The table as Markdown (what the README's conventions section shows)."""
    rows = ["| name | meaning | shape / type | default |", "|---|---|---|---|"]
    for name, t in VOCABULARY.items():
        rows.append(f"| `{name}` | {t.meaning} | {t.shape} | {t.default} |")
    return "\n".join(rows) + "\n"
