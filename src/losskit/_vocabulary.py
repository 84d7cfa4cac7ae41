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
    "avg_factor": T("dense detection's normaliser: `\"mean\"` is `sum(w l) / max(avg_factor, 1)` (a count of positives, mmdetection's `avg_factor`); `all_reduce_avg_factor` averages it over ranks", "number or one-element tensor", "`None`", ("data", "input"), ("AvgFactor", "Tensor | float")),
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
    # ---- dense detection
    "iou_weighted": T("varifocal loss: each positive's BCE weighted by its target IoU (`True`) or by 1", "bool", "`True`", ("option",), ("bool",)),
    "penalty_exponent": T("Gaussian focal loss: the exponent of `(1 - y)` that reduces the penalty of negatives near a peak (the CornerNet paper's beta)", "float", "`4`", ("option",), ("NonNegative",)),
    "anchor_points": T("dense detection: the points `(x, y)` box sides are measured from", "`(*, 2)`", "", ("input",), ("Tensor",)),
    "distances": T("dense detection: distances `(left, top, right, bottom)` from an anchor point to a box's sides", "`(*, 4)`", "", ("input",), ("Tensor",)),
    "max_distance": T("`box_to_distances`: distances are clamped to `[0, max_distance]` (the last bin, `n - 1`); `None`: not clamped above", "float", "`None`", ("option",), ("NonNegative | None",)),
    # ---- classification: asymmetric, poly, consistency, distillation
    "gamma_pos": T("asymmetric loss: the focusing exponent of the positive (target) term", "float", "`1`", ("option",), ("NonNegative",)),
    "gamma_neg": T("asymmetric loss: the focusing exponent of the negative terms", "float", "`4`", ("option",), ("NonNegative",)),
    "clip": T("asymmetric loss: the probability margin `m` shifted off the negatives, `p_m = max(p - m, 0)` (timm's `clip`)", "float in `[0, 1]`", "`0.05`", ("option",), ("UnitInterval",)),
    "poly_coef": T("PolyLoss: the coefficient `epsilon >= -1` of the leading polynomial term `(1 - p_t)` (`(1 - p_t)^(gamma + 1)` for focal)", "float", "`1`", ("option",), ("PolyCoef",)),
    "num_splits": T("Jensen-Shannon consistency: the number of views `S` of each sample (the last dimension of the logits)", "int", "`3`", ("option",), ("PositiveInt",)),
    "consistency_weight": T("Jensen-Shannon consistency: the weight `lambda` of the views' divergence", "float", "`12`", ("option",), ("NonNegative",)),
    "teacher_logits": T("knowledge distillation: the teacher's logits, the shape of the student's", "`(N, C, *)`", "", ("input",), ("Tensor",)),
    # ---- long tail
    "counts": T("long-tail losses: the number of (training) samples of each class, `>= 0`; a count of 0 is safe; keyword where fixed for the run (LDAM), positional where cumulative and updated each call (seesaw)", "`(C,)`", "required", ("input", "option"), ("ClassCounts", "Tensor")),
    "cb_beta": T("class-balanced weights: `beta` of the effective number `(1 - beta^n) / (1 - beta)`", "float in `[0, 1]`", "`0.9999`", ("option",), ("UnitInterval",)),
    "mitigation_exponent": T("Seesaw loss: the exponent `p` of the count ratio `n_j / n_y` (mitigation factor)", "float", "`0.8`", ("option",), ("NonNegative",)),
    "compensation_exponent": T("Seesaw loss: the exponent `q` of the score ratio `s_j / s_y` (compensation factor)", "float", "`2`", ("option",), ("NonNegative",)),
    "pos_grad": T("EQLv2: the positive gradient magnitudes accumulated per class so far, `>= 0` (module: the initial value of its buffer); `None`: 0", "`(C,)`", "`None`", ("option",), ("ClassWeight",)),
    "neg_grad": T("EQLv2: the negative gradient magnitudes accumulated per class so far, `>= 0` (module: the initial value of its buffer); `None`: 0, no re-weighting", "`(C,)`", "`None`", ("option",), ("ClassWeight",)),
    "ratio_slope": T("EQLv2: the slope `gamma` of the sigmoid that maps the gradient ratio `g` to the negative weight `r = sigmoid(gamma (g - mu))`", "float", "`12`", ("option",), ("Positive",)),
    "ratio_center": T("EQLv2: the gradient ratio `mu` where the negative weight is 1/2", "float", "`0.8`", ("option",), ("NonNegative",)),
    "pos_gain": T("EQLv2: `alpha`, the positive weight `q = 1 + alpha (1 - r)`", "float", "`4`", ("option",), ("NonNegative",)),
    # ---- robust regression
    "residual_scale": T("robust regression: the scale `c > 0` of the residual (the loss is a function of `d / c`)", "float", "`1`", ("option",), ("Positive",)),
    "robust_shape": T("Barron's general robust loss: the shape `alpha` (2 = L2, 1 = Charbonnier, 0 = Cauchy, -2 = Geman-McClure, lower = more robust); a tensor (`nn.Parameter`) to learn it", "number or tensor", "`1`", ("option",), ("RobustShape",)),
    "width": T("Wing loss: the half-width `w` of the logarithmic region", "float", "`10`", ("option",), ("Positive",)),
    "curvature": T("Wing loss: the curvature `eps` of the logarithmic region", "float", "`2`", ("option",), ("Positive",)),
    "balance": T("balanced L1: the inliers' gradient factor (the paper's alpha)", "float", "`0.5`", ("option",), ("Positive",)),
    "error_bound": T("balanced L1: the bound of the outliers' gradient (the paper's gamma)", "float", "`1.5`", ("option",), ("Positive",)),
    # ---- regression
    "beta": T("Smooth L1's switch point", "float", "`1`", ("option",), ("NonNegative",)),
    "delta": T("Huber's switch point", "float", "`1`", ("option",), ("Positive",)),
    # ---- masks
    "mode": T("`\"binary\"`, `\"multiclass\"` or `\"multilabel\"`", "", "`\"binary\"`", ("option",), ("Mode",)),
    "smooth": T("added to the numerator and denominator of an overlap ratio, `>= 0`", "float", "`1`", ("option",), ("NonNegative",)),
    "squared_pred": T("Dice: sums of squares in the denominator (V-Net)", "bool", "`False`", ("option",), ("bool",)),
    "fp_weight": T("Tversky: the weight of false positives (the paper's alpha)", "float", "`0.5`", ("option",), ("NonNegative",)),
    "fn_weight": T("Tversky: the weight of false negatives (the paper's beta)", "float", "`0.5`", ("option",), ("NonNegative",)),
    "weighting": T("generalized Dice: the class weight from the target volume, `\"square\"` (`1 / |G|^2`), `\"simple\"` (`1 / |G|`) or `\"uniform\"`", "", "`\"square\"`", ("option",), ("Weighting",)),
    "classes": T("Lovász-softmax: the classes of the mean, `\"present\"` (in the target) or `\"all\"`", "", "`\"present\"`", ("option",), ("LovaszClasses",)),
    "dice_weight": T("compound losses: the weight of the Dice (or generalized Dice) term, `>= 0`", "float", "`1`", ("option",), ("NonNegative",)),
    "ce_weight": T("compound losses: the weight of the cross-entropy term, `>= 0`", "float", "`1`", ("option",), ("NonNegative",)),
    "focal_weight": T("compound losses: the weight of the focal term, `>= 0`", "float", "`1`", ("option",), ("NonNegative",)),
    "distance_power": T("Hausdorff DT loss: the exponent of the distance maps (the paper's alpha)", "float", "`2`", ("option",), ("NonNegative",)),
    "logarithmic": T("Hausdorff DT loss: return `log(1 + l)`", "bool", "`False`", ("option",), ("bool",)),
    "iterations": T("clDice: the soft skeleton's erosions (at least the largest radius of the structures)", "int", "`3`", ("option",), ("NonNegativeInt",)),
    "cl_weight": T("Dice + clDice: the weight of the clDice term, in `[0, 1]`", "float", "`0.5`", ("option",), ("UnitInterval",)),
    "class_distance": T("generalized Wasserstein Dice: the distances between classes, `>= 0`, divided by the largest", "`(C, C)`", "required", ("option",), ("ClassDistance",)),
    "tp_weighting": T("generalized Wasserstein Dice: the true-positive class weights, `\"foreground\"` (background 0) or `\"inverse_volume\"` (`1 / (|G| + 1)`)", "", "`\"foreground\"`", ("option",), ("TPWeighting",)),
    "spatial_dims": T("how many trailing dimensions form an image (the distance transform, the signed distance map)", "int", "`2`", ("option",), ("int",)),
    "spacing": T("`distance_transform_edt`: the size of an element along each spatial dimension", "number or one per dimension", "`None` (1)", ("option",), ("float | Sequence[float] | None",)),
    # ---- boxes
    "box_format": T("`\"xyxy\"`, `\"xywh\"` or `\"cxcywh\"`", "", "`\"xyxy\"`", ("option",), ("BoxFormat",)),
    "alpha_mode": T("CIoU's trade-off weight: `\"detach\"`, `\"grad\"` or `\"threshold\"`", "", "`\"detach\"`", ("option",), ("AlphaMode",)),
    "v_grad": T("CIoU's aspect gradient: `\"exact\"` or `\"paper\"`", "", "`\"exact\"`", ("option",), ("VGrad",)),
    "shape_exponent": T("SIoU's shape-cost exponent theta", "float", "`4`", ("option",), ("Positive",)),
    "form": T("which formula of a loss: IoU loss, the function of IoU minimised, `\"linear\"` (`1 - IoU`), `\"square\"` (`1 - IoU^2`) or `\"log\"` (`-ln IoU`): mmdetection's `IoULoss(mode=)`; contrastive losses, `\"deepid2\"` (halved squared hinges) or `\"hinge\"` (pytorch-metric-learning's unsquared hinges)", "", "`\"linear\"` (IoU), `\"deepid2\"` (contrastive)", ("option",), ("IoUForm", "ContrastiveForm")),
    "iou_exponent": T("alpha-IoU's power `alpha >= 1` of IoU and of each penalty term of an IoU-family loss (He et al. 2021); 1: the plain loss", "float", "`1`", ("option",), ("IoUExponent",)),
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
    "ref_embeddings": T("pair-based losses: the reference set the anchors are compared with (a queue, another view); `None`: the batch itself", "`(M, D)`", "`None`", ("input",), ("Tensor | None",)),
    "ref_labels": T("the integer identities of `ref_embeddings`", "`(M,)`", "`None`", ("input",), ("Tensor | None",)),
    "indices": T("mined pairs `(a1, p, a2, n)` or triplets `(a, p, n)` (a `losskit.miners` miner's output): only these count; `None`: every pair or the loss's own mining", "tuple of 1-D integer tensors", "`None`", ("input",), ("tuple[Tensor, ...] | None",)),
    "temperature": T("a softmax temperature: similarities are divided by it (NT-Xent, InfoNCE, SupCon)", "float", "per loss", ("option",), ("Positive",)),
    "pos_scale": T("multi-similarity: the positive pairs' exponent weight (the paper's alpha)", "float", "`2`", ("option",), ("Positive",)),
    "neg_scale": T("multi-similarity: the negative pairs' exponent weight (the paper's beta)", "float", "`50`", ("option",), ("Positive",)),
    "base": T("multi-similarity: the similarity offset lambda of both terms", "float", "`0.5`", ("option",), ("float",)),
    "mining_margin": T("multi-similarity pair mining: keep a pair within this slack of the anchor's hardest pair of the other kind (the paper's epsilon); `None`: every pair", "float", "`None`", ("option",), ("NonNegative | None",)),
    "invariance_weight": T("VICReg: the weight of the invariance (view agreement) term", "float", "`25`", ("option",), ("NonNegative",)),
    "variance_weight": T("VICReg: the weight of the variance (anti-collapse) term", "float", "`25`", ("option",), ("NonNegative",)),
    "covariance_weight": T("VICReg: the weight of the covariance (decorrelation) term", "float", "`1`", ("option",), ("NonNegative",)),
    "off_diagonal_weight": T("Barlow Twins: the weight of the off-diagonal (redundancy) term", "float", "`5e-3`", ("option",), ("NonNegative",)),
    "pos_margin": T("lifted structure and contrastive losses: the positive pairs' margin, subtracted from their distances (`margin` is the negatives')", "float", "`0`", ("option",), ("NonNegative",)),
    "boundary": T("margin loss: the distance boundary beta between positive and negative pairs (function: a tensor or number; module: its initial value, learned)", "scalar", "module: `1.2`", ("input", "module"), ("Tensor | float",)),
    "symmetric": T("InfoNCE: both views are anchors among all `2N` views (SimCLR), or `anchor` rows against `paired` rows only", "bool", "`True`", ("option",), ("bool",)),
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
    "grad_mode": T("`\"exact\"` or `\"straight_through\"` (insightface's margin under `no_grad`; circle loss's weights detached, the paper's gradient)", "", "`\"exact\"`", ("option",), ("GradMode",)),
    "chunk_size": T("classes (margin heads) or anchors (pair losses) per block: never more logits or similarities at once, recomputed in backward (`None`: dense)", "int", "`None`", ("option",), ("PositiveInt | None",)),
    "sample_rate": T("Partial FC: the fraction of classes sampled in training mode", "float in `(0, 1]`", "`1` (modules)", ("option", "module"), ("Fraction",)),
    "learn_scale": T("a margin head learns its `scale`", "bool", "`False`", ("module",)),
    "subcenters": T("centres per class `K` (sub-center ArcFace, SoftTriple)", "int", "`3` (sub-center ArcFace), `10` (SoftTriple)", ("module",)),
    "t": T("CurricularFace's running mean of the target cosine (a module keeps it in a buffer)", "one-element tensor", "module: `0`", ("input",), ("Tensor",)),
    "norm_mean": T("AdaFace's running mean of the feature norm (a module keeps it in a buffer)", "one-element tensor", "module: `20`", ("input",), ("Tensor",)),
    "norm_std": T("AdaFace's running standard deviation of the feature norm (a buffer of the module)", "one-element tensor", "module: `100`", ("input",), ("Tensor",)),
    "momentum": T("the weight of the current batch in a running estimate (BatchNorm's sense): `new = (1 - momentum) old + momentum batch`; 0 keeps the estimate (a module in evaluation mode)", "float in `[0, 1]`", "`0.01`", ("option",), ("UnitInterval",)),
    "stop_gradient": T("the paper's stop-gradient: running estimates (and AdaFace's norms in its margin) are constants of the backward pass; `False` differentiates through them", "bool", "`True`", ("option",), ("bool",)),
    "h": T("AdaFace: how far the standardised feature norm reaches (`q = clip(h z, -1, 1)`)", "float", "`0.333`", ("option",), ("NonNegative",)),
    "min_norm": T("MagFace: the lower bound `l_a` of the feature magnitude (clipped there)", "float", "`10`", ("option",), ("Positive",)),
    "max_norm": T("MagFace: the upper bound `u_a` of the feature magnitude", "float", "`110`", ("option",), ("Positive",)),
    "min_margin": T("MagFace: the angular margin at `min_norm`, radians", "float", "`0.45`", ("option",), ("Angle",)),
    "max_margin": T("MagFace: the angular margin at `max_norm`, radians", "float", "`0.8`", ("option",), ("Angle",)),
    "reg_weight": T("the weight of a loss's regulariser (MagFace's `lambda_g`)", "float", "`35` (MagFace)", ("option",), ("NonNegative",)),
    "sigma": T("ElasticFace: the standard deviation of the per-sample margin", "float", "`0.05`", ("option",), ("NonNegative",)),
    "plus": T("ElasticFace+: sort the drawn margins against the target cosines", "bool", "`False`", ("option",), ("bool",)),
    "unified_threshold": T("UniFace's learned threshold `b` shared by every (sample, class) pair (function: a tensor; module: its initial value, `None` for `log(10 C)`)", "one-element tensor", "module: `None`", ("input", "module"), ("Tensor",)),
    "negative_weight": T("UniFace's `lambda`: the weight of the negative classes' terms", "float", "`1`", ("option",), ("NonNegative",)),
    "interclass_filtering_threshold": T("insightface's inter-class filtering: negatives whose cosine exceeds it get logit 0; 0 turns it off", "float in `[0, 1]`", "`0`", ("option",), ("UnitInterval",)),
    "generator": T("a `torch.Generator` for random draws (reproducible tests)", "", "`None`", ("option",), ("torch.Generator | None",)),
    "points": T("`sphereface_effective_margin`: the angles sampled", "int", "`2001`", ("option",), ("PositiveInt",)),
    # ---- sizes and allocation (module constructors)
    "num_classes": T("the number of classes `C`", "int", "", ("size", "input"), ("int",)),
    "embedding_dim": T("the embedding dimension `D`", "int", "", ("size",)),
    "device": T("where a module allocates its state", "", "`None`", ("module",)),
    "dtype": T("the dtype of a module's state; `distance_transform_edt`: of its result", "", "`None`", ("module", "option")),
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
