"""Time against input size, eager and compiled, losskit beside its peers and the machine's floor.

A :class:`Sweep` is one loss in one setting (``giou_loss`` on overlapping boxes, the sigmoid
focal loss on 1 % positives, ...) timed at several input sizes. Every implementation (losskit's
and each installed peer's) is a function ``fn(*inputs) -> scalar loss``; one step is its forward
and backward pass. :func:`run_sweeps` times them side by side in one process:

* **eager**: the functions as written;
* **compiled** (``compile=True``): each function under ``torch.compile(dynamic=True)``, with the
  number of graph breaks dynamo reports for it (``torch._dynamo.explain``) and its compile time
  (the first forward + backward at the smallest size, which traces, compiles and runs it).

At each size the implementations are timed in turn, ``rounds`` times over (interleaved, so a
neighbour's load that comes and goes hits all of them alike), each round the median of
``torch.utils.benchmark.Timer.blocked_autorange``; a row keeps the median of its rounds. A
ratio of two implementations is taken round by round (their steps ran back to back, under
the same load) and reported as the median of those ratios with their quartiles
(:func:`paired_ratio`), so a reader sees how far a target is from the run-to-run spread.

The **floor** of a size is the time the bytes that must move take at the machine's memory
bandwidth: every input read once and every gradient written once (:attr:`Sweep.floor_bytes`),
at the bandwidth :func:`memory_bandwidth` measures with one large copy in the same process.
No loss can beat it; ``losskit / floor`` says how far from it a step is.

:func:`write_results` writes one results file per family
(``results-speed-<family>-<device>.json`` and ``.md``: the method, the machine, every row and
the ratios) and :func:`plot_family` draws the
time-versus-size curves (log-log; eager solid, compiled dashed, the floor dotted). The script
``benchmarks/bench_speed.py`` is the command line.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Sweep",
    "SweepRow",
    "machine",
    "memory_bandwidth",
    "paired_ratio",
    "run_sweeps",
    "write_results",
    "plot_family",
    "SWEEPS",
]

Inputs = tuple[Tensor, ...]


@dataclass(frozen=True)
class Sweep:
    """One loss in one setting, timed at several sizes.

    ``make(n, device)`` returns the inputs at size ``n``; those that require grad are the
    leaves whose gradients one step computes. ``impls`` maps an implementation's name to a
    factory returning ``fn(*inputs) -> scalar`` (the factory imports the peer, so a peer that
    is not installed is left out with a message). ``"losskit"`` is always one of them;
    ``reference`` names an implementation that is a yardstick, not a peer (e.g. torch's
    ``binary_cross_entropy_with_logits`` for the focal losses). ``floor_bytes(n)`` is what
    one step must move at size ``n``.
    """

    family: str
    loss: str
    setting: str
    sizes: tuple[int, ...]
    make: Callable[[int, torch.device], Inputs]
    impls: dict[str, Callable[[], Callable[..., Tensor]]]
    floor_bytes: Callable[[int], int]
    size_label: str = "elements"
    reference: str | None = None


@dataclass
class SweepRow:
    family: str
    loss: str
    setting: str
    size: int
    impl: str
    mode: str  # "eager" | "compiled"
    time_ms: float
    floor_ms: float
    graph_breaks: int | None = None
    compile_s: float | None = None
    rounds: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    for mod in ("torchvision", "monai", "segmentation_models_pytorch"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return info


def memory_bandwidth(device: torch.device, mib: int = 256, repeats: int = 5) -> float:
    """Bytes per second of one large copy (read + write counted), best of ``repeats``."""
    n = mib * 2**20 // 4
    a = torch.ones(n, device=device)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        b.copy_(a)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.numel() * a.element_size() / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- timing


def _leaves(inputs: Inputs) -> list[Tensor]:
    return [t for t in inputs if t.requires_grad]


def _step(fn: Callable[..., Tensor], inputs: Inputs, device: torch.device) -> Callable[[], None]:
    leaves = _leaves(inputs)

    def run() -> None:
        for t in leaves:
            t.grad = None
        fn(*inputs).backward()

    if device.type != "cuda":
        return run

    def run_sync() -> None:
        run()
        torch.cuda.synchronize()

    return run_sync


def _graph_breaks(fn: Callable[..., Tensor], inputs: Inputs) -> int:
    import torch._dynamo as dynamo

    dynamo.reset()
    return int(dynamo.explain(fn)(*inputs).graph_break_count)


def _compiled(
    fn: Callable[..., Tensor], inputs: Inputs, device: torch.device, backend: str
) -> tuple[Callable[..., Tensor], float, int]:
    """``(compiled fn, compile seconds, graph breaks)``; the compile time is the first
    forward + backward (trace, compile, run)."""
    import torch._dynamo as dynamo

    breaks = _graph_breaks(fn, inputs)
    dynamo.reset()
    cfn = torch.compile(fn, dynamic=True, backend=backend)
    t0 = time.perf_counter()
    _step(cfn, inputs, device)()
    return cfn, time.perf_counter() - t0, breaks


def _median_time(step: Callable[[], None], min_run_time: float) -> float:
    from torch.utils import benchmark

    timer = benchmark.Timer("step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _available(sweep: Sweep, log: Callable[[str], None]) -> dict[str, Callable[..., Tensor]]:
    out = {}
    for name, factory in sweep.impls.items():
        try:
            out[name] = factory()
        except ModuleNotFoundError as e:
            log(f"{sweep.loss}: {name} left out: {e.name!r} is not installed")
    return out


def run_sweeps(
    sweeps: Iterable[Sweep],
    *,
    device: torch.device | str = "cpu",
    compile: bool = False,
    backend: str = "inductor",
    rounds: int = 7,
    min_run_time: float = 0.05,
    sizes: Sequence[int] | None = None,
    bandwidth: float | None = None,
    log: Callable[[str], None] = print,
) -> list[SweepRow]:
    """Time every sweep (see the module's docstring); ``sizes`` overrides each sweep's own
    (only those of its sizes that are listed are run), ``bandwidth`` the measured one."""
    device = torch.device(device)
    bw = bandwidth or memory_bandwidth(device)
    rows: list[SweepRow] = []
    # one compilation per (loss, implementation): the settings of a loss share input shapes
    # and dtypes, so dynamic=True serves them all without recompiling
    cache: dict[tuple[str, str], tuple[Callable[..., Tensor], float, int]] = {}
    for sweep in sweeps:
        fns = _available(sweep, log)
        if "losskit" not in fns:
            raise ValueError(f"sweep {sweep.loss!r} has no 'losskit' implementation")
        run_at = [n for n in sweep.sizes if sizes is None or n in sizes]
        if not run_at:
            continue
        modes: dict[str, dict[str, Callable[..., Tensor]]] = {"eager": fns}
        meta: dict[tuple[str, str], tuple[float | None, int | None]] = {}
        if compile:
            inputs = sweep.make(run_at[0], device)
            compiled = {}
            for name, fn in fns.items():
                if (sweep.loss, name) not in cache:
                    log(f"{sweep.loss} ({sweep.setting}): compiling {name}")
                    cache[(sweep.loss, name)] = _compiled(fn, inputs, device, backend)
                cfn, secs, breaks = cache[(sweep.loss, name)]
                compiled[name] = cfn
                meta[("compiled", name)] = (secs, breaks)
            modes["compiled"] = compiled
        for n in run_at:
            inputs = sweep.make(n, device)
            floor_ms = sweep.floor_bytes(n) / bw * 1e3
            log(f"{sweep.loss} ({sweep.setting}) at {n:,} {sweep.size_label}")
            steps = {
                (mode, name): _step(fn, inputs, device)
                for mode, found in modes.items()
                for name, fn in found.items()
            }
            for s in steps.values():
                s()  # warm-up (and, compiled, any re-specialisation for this size)
            times: dict[tuple[str, str], list[float]] = {k: [] for k in steps}
            for _ in range(rounds):
                for key, s in steps.items():
                    times[key].append(_median_time(s, min_run_time))
            for (mode, name), ts in times.items():
                comp_s, n_breaks = meta.get((mode, name), (None, None))
                rows.append(SweepRow(
                    family=sweep.family, loss=sweep.loss, setting=sweep.setting, size=n,
                    impl=name, mode=mode, time_ms=statistics.median(ts) * 1e3,
                    floor_ms=floor_ms, graph_breaks=n_breaks, compile_s=comp_s,
                    rounds=[round(t * 1e3, 4) for t in ts],
                ))  # fmt: skip
            del steps, inputs
    return rows


# --------------------------------------------------------------------------- results


def paired_ratio(num: SweepRow, den: SweepRow) -> tuple[float, float | None, float | None]:
    """``num / den`` of two rows of one size: the median over the rounds of the ratio within
    each round, and that ratio's first and third quartiles, when both rows have the same
    number of rounds, at least three (the implementations of a round ran back to back, so a
    load that slows a whole round cancels); otherwise the ratio of the rows' medians and no
    quartiles."""
    a, b = num.rounds, den.rounds
    if len(a) != len(b) or len(a) < 3 or min(b) <= 0:
        return num.time_ms / den.time_ms, None, None
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return med, q1, q3


def _ratio_cell(num: SweepRow, den: SweepRow) -> str:
    """A ratio cell: ``median (q1-q3)`` of :func:`paired_ratio`, or the ratio alone."""
    med, q1, q3 = paired_ratio(num, den)
    return f"{med:.2f}" if q1 is None else f"{med:.2f} ({q1:.2f}-{q3:.2f})"


def _row_index(rows: list[SweepRow]) -> dict[tuple[str, str, int, str, str], SweepRow]:
    return {(r.loss, r.setting, r.size, r.impl, r.mode): r for r in rows}


def markdown(
    rows: list[SweepRow], info: dict[str, Any], bandwidth: float, method: str, sweeps: list[Sweep]
) -> str:
    """The results file's text: method, machine, one table per loss and setting."""
    idx = _row_index(rows)
    ref_of = {(s.loss, s.setting): s.reference for s in sweeps}
    label_of = {(s.loss, s.setting): s.size_label for s in sweeps}
    out = [
        method.strip(),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".",
        f"Floor bandwidth: {bandwidth / 1e9:.1f} GB/s (one 256 MiB copy, read + write counted, "
        "unless the method says otherwise).",
        "",
    ]
    seen: list[tuple[str, str]] = []
    for r in rows:
        if (r.loss, r.setting) not in seen:
            seen.append((r.loss, r.setting))
    for loss, setting in seen:
        mine = [r for r in rows if (r.loss, r.setting) == (loss, setting)]
        impls = list(dict.fromkeys(r.impl for r in mine))
        modes = list(dict.fromkeys(r.mode for r in mine))
        sizes = sorted({r.size for r in mine})
        ref = ref_of.get((loss, setting))
        out += [f"### {loss}: {setting}", ""]
        head = [label_of.get((loss, setting), "size"), "floor ms"]
        for mode in modes:
            for impl in impls:
                head.append(f"{impl} {mode} ms")
        for mode in modes:
            for impl in impls:
                if impl == ref:
                    head.append(f"losskit / {impl} {mode}")
                elif impl != "losskit":
                    head.append(f"{impl} / losskit {mode}")
        head.append("losskit eager / floor")
        if "compiled" in modes:
            head.append("fastest compiled peer / losskit eager")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---:|" * len(head))
        for n in sizes:
            lk_e = idx[(loss, setting, n, "losskit", "eager")]
            cells = [f"{n:,}", f"{lk_e.floor_ms:.3f}"]
            for mode in modes:
                for impl in impls:
                    cell = idx.get((loss, setting, n, impl, mode))
                    cells.append("-" if cell is None else f"{cell.time_ms:.3f}")
            for mode in modes:
                lk = idx.get((loss, setting, n, "losskit", mode))
                for impl in impls:
                    if impl == "losskit":
                        continue
                    cell = idx.get((loss, setting, n, impl, mode))
                    if cell is None or lk is None:
                        cells.append("-")
                    elif impl == ref:
                        cells.append(_ratio_cell(lk, cell))
                    else:
                        cells.append(_ratio_cell(cell, lk))
            cells.append(f"{lk_e.time_ms / lk_e.floor_ms:.0f}x")
            if "compiled" in modes:
                peers = [
                    idx[(loss, setting, n, i, "compiled")]
                    for i in impls
                    if i not in ("losskit", ref) and (loss, setting, n, i, "compiled") in idx
                ]
                fastest = min(peers, key=lambda p: p.time_ms) if peers else None
                cells.append("-" if fastest is None else _ratio_cell(fastest, lk_e))
            out.append("| " + " | ".join(cells) + " |")
        if "compiled" in modes:
            comp = [r for r in mine if r.mode == "compiled" and r.size == sizes[0]]
            out.append("")
            out.append(
                "Compiled: "
                + "; ".join(
                    f"{r.impl} {r.graph_breaks} graph break{'s' if r.graph_breaks != 1 else ''}, "
                    f"compile {r.compile_s:.1f} s"
                    for r in comp
                )
                + "."
            )
        out.append("")
    return "\n".join(out) + "\n"


def merged_machine(
    old: dict[str, Any], now: dict[str, Any], losses: Sequence[str]
) -> dict[str, Any]:
    """The machine line of a results file whose rows of ``losses`` were re-measured (``now``,
    :func:`machine`) into an older file (``old``): the older line, with a ``merged`` entry
    saying which losses were re-run, when and at what load (appended to any earlier one)."""
    info = dict(old)
    note = (f"{', '.join(losses)} re-measured {now.get('date', '?')} (load average "
            f"{now.get('load_average', '?')})")  # fmt: skip
    info["merged"] = f"{old['merged']}; {note}" if old.get("merged") else note
    return info


def write_results(
    rows: list[SweepRow], sweeps: list[Sweep], out_dir: str | Path, device: str,
    bandwidth: float, method: str, info: dict[str, Any] | None = None,
) -> list[Path]:  # fmt: skip
    """One ``results-speed-<family>-<device>.json`` and ``.md`` per family in ``rows``;
    ``info`` is the machine (default: :func:`machine` now)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = info or machine()
    written = []
    for family in dict.fromkeys(r.family for r in rows):
        mine = [r for r in rows if r.family == family]
        fam_sweeps = [s for s in sweeps if s.family == family]
        base = out_dir / f"results-speed-{family}-{device}"
        payload = {"method": method, "machine": info, "bandwidth_bytes_per_s": bandwidth,
                   "rows": [asdict(r) for r in mine]}  # fmt: skip
        base.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
        base.with_suffix(".md").write_text(
            f"# Speed against size: {family} ({device})\n\n"
            + markdown(mine, info, bandwidth, method, fam_sweeps)
        )
        written += [base.with_suffix(".json"), base.with_suffix(".md")]
    return written


def plot_family(results_json: str | Path, out_png: str | Path) -> Path:
    """Time-versus-size curves of one results file: one panel per loss and setting, log-log,
    each implementation eager (solid) and compiled (dashed), the floor dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(results_json).read_text())
    rows = [SweepRow(**r) for r in data["rows"]]
    panels = list(dict.fromkeys((r.loss, r.setting) for r in rows))
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    impls = list(dict.fromkeys(r.impl for r in rows))
    n_labels = 2 * len(impls) + 1
    legend_rows = -(-n_labels // 4)
    # fixed margins in inches: a title band, each row's panel, the legend band at the bottom
    top_in, row_in, bottom_in = 0.15, 3.6, 0.55 + 0.28 * legend_rows
    height = top_in + row_in * nrows + bottom_in
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, height), squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(impls)}
    for ax, (loss, setting) in zip(axes.flat, panels, strict=False):
        mine = [r for r in rows if (r.loss, r.setting) == (loss, setting)]
        for impl in dict.fromkeys(r.impl for r in mine):
            for mode, style in (("eager", "-"), ("compiled", "--")):
                pts = sorted((r.size, r.time_ms) for r in mine if r.impl == impl and r.mode == mode)
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(
                        xs, ys, style, marker="o", ms=3, color=colours[impl],
                        label=f"{impl} ({mode})",
                    )  # fmt: skip
        floor = sorted({(r.size, r.floor_ms) for r in mine})
        xs, ys = zip(*floor, strict=True)
        ax.plot(xs, ys, ":", color="black", label="floor (bytes / bandwidth)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{loss}: {setting}", fontsize=9)
        ax.set_xlabel("input size")
        ax.set_ylabel("forward + backward (ms)")
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(
        handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
        frameon=False, bbox_to_anchor=(0.5, 0.0),
    )  # fmt: skip
    fig.subplots_adjust(
        left=0.07, right=0.98, top=1 - top_in / height - 0.25 / height,
        bottom=(bottom_in + 0.25) / height, hspace=0.45, wspace=0.3,
    )  # fmt: skip
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


# --------------------------------------------------------------------------- the sweeps


def _boxes(n: int, device: torch.device, disjoint: bool) -> Inputs:
    """``n`` float32 (pred, target) xyxy pairs, pixel scale; ``disjoint``: every predicted box
    moved off its target (the enclosing-box terms then carry the gradient)."""
    g = torch.Generator().manual_seed(0)
    lo = torch.rand(n, 2, generator=g) * 600.0
    size = torch.rand(n, 2, generator=g) * 120.0 + 4.0
    target = torch.cat([lo, lo + size], dim=-1)
    shift = torch.randn(n, 2, generator=g) * 10.0
    if disjoint:
        # past the far edge by 1-50 px along x, random along y
        shift[:, 0] = size[:, 0] * 1.5 + torch.rand(n, generator=g) * 50.0 + 1.0
    plo = lo + shift
    psize = size * torch.exp(torch.randn(n, 2, generator=g) * 0.3)
    pred = torch.cat([plo, plo + psize], dim=-1)
    return pred.to(device).requires_grad_(True), target.to(device)


def _returns(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A factory's result: ``fn`` itself (losskit's implementation needs no import)."""
    return fn


def _boxes_at(n: int, device: torch.device, *, disjoint: bool) -> Inputs:
    return _boxes(n, device, disjoint)


def _box_sweeps() -> list[Sweep]:
    from .. import functional as F

    def tv(name: str) -> Callable[[], Callable[..., Tensor]]:
        def factory() -> Callable[..., Tensor]:
            import torchvision.ops as tvo

            fn = getattr(tvo, name)
            return lambda p, t: fn(p, t, reduction="mean")

        return factory

    peers = {"giou_loss": "generalized_box_iou_loss", "diou_loss": "distance_box_iou_loss",
             "ciou_loss": "complete_box_iou_loss"}  # fmt: skip
    out = []
    for loss in ("iou_loss", "giou_loss", "diou_loss", "ciou_loss", "eiou_loss", "siou_loss"):
        for disjoint in (False, True):
            impls: dict[str, Callable[[], Callable[..., Tensor]]] = {
                "losskit": partial(_returns, getattr(F, loss))
            }
            if loss in peers:
                impls["torchvision"] = tv(peers[loss])
            out.append(Sweep(
                family="box", loss=loss,
                setting="disjoint boxes" if disjoint else "overlapping boxes",
                sizes=(1_000, 10_000, 100_000, 1_000_000),
                make=partial(_boxes_at, disjoint=disjoint),
                impls=impls, floor_bytes=lambda n: 3 * 16 * n, size_label="boxes",
            ))  # fmt: skip
    return out


def _logits(n: int, device: torch.device, quality: bool) -> Inputs:
    """``n`` float32 logits (dense-detection-like: N(0, 2)) and targets with 1 % positives;
    ``quality``: the positives' targets are IoUs in (0, 1) (quality focal, varifocal)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=g) * 2.0
    pos = torch.rand(n, generator=g) < 0.01
    y = pos.float()
    if quality:
        y = y * torch.rand(n, generator=g).clamp_min(0.05)
    return x.to(device).requires_grad_(True), y.to(device)


def _focal_sweeps() -> list[Sweep]:
    from .. import functional as F

    def bce() -> Callable[..., Tensor]:
        return lambda x, y: torch.nn.functional.binary_cross_entropy_with_logits(x, y)

    def tv() -> Callable[..., Tensor]:
        import torchvision.ops as tvo

        return lambda x, y: tvo.sigmoid_focal_loss(x, y, reduction="mean")

    sizes = tuple(2**k for k in (16, 18, 20, 22)) + (20 * 2**20,)
    bce_name = "BCE-with-logits"
    floor = lambda n: 3 * 4 * n  # noqa: E731 - logits, targets read; gradient written
    return [
        Sweep(family="focal", loss="focal_loss", setting="1 % positives, alpha 0.25, gamma 2",
              sizes=sizes, make=lambda n, d: _logits(n, d, False),
              impls={"losskit": lambda: (lambda x, y: F.focal_loss(x, y)), "torchvision": tv,
                     bce_name: bce},
              floor_bytes=floor, reference=bce_name),
        Sweep(family="focal", loss="quality_focal_loss", setting="1 % positives (IoU targets)",
              sizes=sizes, make=lambda n, d: _logits(n, d, True),
              impls={"losskit": lambda: (lambda x, y: F.quality_focal_loss(x, y)),
                     bce_name: bce},
              floor_bytes=floor, reference=bce_name),
        Sweep(family="focal", loss="varifocal_loss", setting="1 % positives (IoU targets)",
              sizes=sizes, make=lambda n, d: _logits(n, d, True),
              impls={"losskit": lambda: (lambda x, y: F.varifocal_loss(x, y)), bce_name: bce},
              floor_bytes=floor, reference=bce_name),
    ]  # fmt: skip


def _volumes(shape: tuple[int, ...], device: torch.device, multiclass: bool) -> Inputs:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    if multiclass:
        t = torch.randint(0, shape[1], shape[:1] + shape[2:], generator=g)
    else:
        t = (torch.rand(*shape, generator=g) < 0.3).float()
    return x.to(device).requires_grad_(True), t.to(device)


def _volumes_at(
    n: int, device: torch.device, *, c: int, side: int, dims: int, multi: bool
) -> Inputs:
    return _volumes((n, c) + (side,) * dims, device, multi)


def _volume_bytes(n: int, *, per_image: int) -> int:
    return n * per_image


def _overlap_sweeps() -> list[Sweep]:
    from .. import functional as F

    def monai(cls: str, onehot: bool, **kw: Any) -> Callable[[], Callable[..., Tensor]]:
        def factory() -> Callable[..., Tensor]:
            import monai.losses as ml

            m = getattr(ml, cls)(**kw)
            return (lambda x, t: m(x, t.unsqueeze(1))) if onehot else (lambda x, t: m(x, t))

        return factory

    def smp(cls: str, mode: str, **kw: Any) -> Callable[[], Callable[..., Tensor]]:
        def factory() -> Callable[..., Tensor]:
            import segmentation_models_pytorch.losses as sl

            m = getattr(sl, cls)(mode=mode, from_logits=True, **kw)
            return lambda x, t: m(x, t)

        return factory

    specs = {
        "dice_loss": ("multiclass", lambda x, t: F.dice_loss(x, t, mode="multiclass"), {
            "monai": monai("DiceLoss", True, softmax=True, to_onehot_y=True, smooth_nr=1.0,
                           smooth_dr=1.0),
            "smp": smp("DiceLoss", "multiclass", smooth=1.0)}),
        "jaccard_loss": ("multilabel", lambda x, t: F.jaccard_loss(x, t, mode="multilabel"), {
            "monai": monai("DiceLoss", False, sigmoid=True, jaccard=True, smooth_nr=1.0,
                           smooth_dr=1.0),
            "smp": smp("JaccardLoss", "multilabel", smooth=1.0)}),
        "tversky_loss": ("multilabel", lambda x, t: F.tversky_loss(
            x, t, mode="multilabel", fp_weight=0.3, fn_weight=0.7), {
            "monai": monai("TverskyLoss", False, sigmoid=True, alpha=0.3, beta=0.7),
            "smp": smp("TverskyLoss", "multilabel", alpha=0.3, beta=0.7, smooth=1.0)}),
    }  # fmt: skip
    out = []
    for loss, (mode, fn, peers) in specs.items():
        for dims, c, side, batches in ((2, 4, 256, (1, 2, 8, 16)), (3, 3, 96, (1, 2))):
            multi = mode == "multiclass"
            label_bytes = 8 if multi else 4  # int64 labels, float32 multilabel targets
            chan = 1 if multi else c
            out.append(Sweep(
                family="overlap", loss=loss,
                setting=f"{mode}, (N, {c}) + {dims}-D {side}^{dims}",
                sizes=batches,
                make=partial(_volumes_at, c=c, side=side, dims=dims, multi=multi),
                impls={"losskit": partial(_returns, fn), **peers},
                floor_bytes=partial(_volume_bytes, per_image=side**dims * (2 * 4 * c + chan
                                                                          * label_bytes)),
                size_label=f"N (images of {c} x {side}^{dims})",
            ))  # fmt: skip
    return out


def SWEEPS() -> dict[str, list[Sweep]]:  # noqa: N802 - a table, built on demand
    """``{family: sweeps}``: the box losses against torchvision, the focal losses against
    torchvision and BCE-with-logits, Dice/Jaccard/Tversky against MONAI and SMP."""
    return {"box": _box_sweeps(), "focal": _focal_sweeps(), "overlap": _overlap_sweeps()}
