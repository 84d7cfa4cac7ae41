"""The segmentation losses and the torch distance transform against their peers: time and
peak memory, side by side in one process.

Run: ``.venv/bin/python benchmarks/bench_segmentation.py [--quick] [--no-memory] [--edt-only]
[--device cuda]``

Method
------
* **Distance transform**: :func:`losskit.distance_transform_edt` on a batch against
  :func:`scipy.ndimage.distance_transform_edt` image by image (scipy has no batch), on one
  CPU thread, for 8 and 32 images of 256 x 256 (the ``(8, 4, 256, 256)`` case has 32) and 1
  and 6 volumes of 96^3 (``(2, 3, 96, 96, 96)``), on smooth random masks (regions with
  boundaries, half foreground). Rounds are interleaved (torch, scipy, torch, ...) and the
  median of each is reported with the ratio scipy / torch (> 1: torch faster). Peak memory:
  each implementation in a fresh subprocess, the resident-set high-water mark of one call
  beyond the inputs (as ``bench_box.py``), or ``torch.cuda.max_memory_allocated``.
* **Losses**: the ``losskit.bench.overlap`` cases of the segmentation losses (generalized
  Dice, Lovász, MCC, the compound losses, Hausdorff and boundary, clDice, generalized
  Wasserstein Dice) on ``(8, 4, 256, 256)`` and ``(2, 3, 96, 96, 96)``, run by
  ``bench_box.py``'s machinery (``torch.utils.benchmark`` medians, 1 thread, interleaved
  implementations of one case, peak memory per subprocess).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent

EDT_CASES = {
    "8 x 256^2": (8, 256, 256),
    "32 x 256^2": (32, 256, 256),
    "1 x 96^3": (1, 96, 96, 96),
    "6 x 96^3": (6, 96, 96, 96),
}

SEGMENTATION = (
    "generalized_dice_loss,lovasz_hinge_loss,lovasz_softmax_loss,mcc_loss,dice_ce_loss,"
    "dice_focal_loss,generalized_dice_focal_loss,generalized_wasserstein_dice_loss,"
    "hausdorff_dt_loss,boundary_loss,cl_dice_loss"
)


def _masks(shape: tuple[int, ...]) -> np.ndarray:
    import scipy.ndimage as ndi

    rng = np.random.default_rng(0)
    sigma = (0,) + (6.0,) * (len(shape) - 1)
    m = ndi.gaussian_filter(rng.random(shape), sigma) > 0.5
    m.reshape(shape[0], -1)[:, 0] = False  # every image has a zero
    return m


def _edt_steps(shape: tuple[int, ...], device: str) -> dict:
    import scipy.ndimage as ndi

    from losskit import distance_transform_edt

    m = _masks(shape)
    t = torch.from_numpy(m).to(device)
    spatial = len(shape) - 1

    def ours() -> None:
        distance_transform_edt(t, spatial_dims=spatial)
        if t.is_cuda:
            torch.cuda.synchronize()

    def scipy_() -> None:
        for img in m:
            ndi.distance_transform_edt(img)

    return {"losskit": ours, "scipy": scipy_}


def _child(label: str, impl: str, device: str) -> None:
    sys.path.insert(0, str(HERE))
    from bench_box import _rss_kib  # the same measurement as the other benchmarks

    torch.set_num_threads(1)
    step = _edt_steps(EDT_CASES[label], device)[impl]
    step()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        base = _rss_kib("VmRSS")
        step()
        peak = (_rss_kib("VmHWM") - base) * 1024
    print(json.dumps({"peak_bytes": peak}))


def _memory(label: str, impl: str, device: str) -> float | None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    res = subprocess.run([sys.executable, __file__, "--child", label, impl, device],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)["peak_bytes"] / 2**20
    sys.stderr.write(res.stderr[-2000:])
    return None


def edt_table(device: str, rounds: int, memory: bool) -> None:
    torch.set_num_threads(1)
    print(f"\nDistance transform, torch {torch.__version__}, device {device}, 1 thread; "
          "ratio = scipy / losskit (> 1: losskit faster)")  # fmt: skip
    print("| images | losskit (ms) | scipy (ms) | ratio | losskit peak MB | scipy peak MB |")
    print("|---|---|---|---|---|---|")
    for label, shape in EDT_CASES.items():
        steps = _edt_steps(shape, device)
        for _ in range(3):  # warm-up: the allocator's first calls page-fault their buffers in
            for f in steps.values():
                f()
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(rounds):
            for k, f in steps.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        mem = {k: (_memory(label, k, device) if memory else None) for k in steps}
        fmt = {k: "-" if v is None else f"{v:.1f}" for k, v in mem.items()}
        print(f"| {label} | {med['losskit'] * 1e3:.1f} | {med['scipy'] * 1e3:.1f} | "
              f"{med['scipy'] / med['losskit']:.2f} | {fmt['losskit']} | {fmt['scipy']} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter timings")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--edt-only", action="store_true", help="only the distance transform")
    ap.add_argument("--cases", default=SEGMENTATION, help="comma-separated loss names")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    edt_table(args.device, 3 if args.quick else 7, not args.no_memory)
    if args.edt_only:
        return 0
    print("\nLosses (bench_box.py's machinery):")
    sys.stdout.flush()
    cmd = [sys.executable, str(HERE / "bench_box.py"), "--device", args.device,
           "--cases", args.cases]  # fmt: skip
    if args.quick:
        cmd.append("--quick")
    if args.no_memory:
        cmd.append("--no-memory")
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
