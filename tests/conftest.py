from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest-xdist workers on this 2-core machine: one torch thread each,
    # so the two never fight over the cores (torch's default would start one per core in each)
    torch.set_num_threads(1)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_same_in_threads(call, cases: list, rounds: int = 10) -> None:
    """``call(*case)`` from two threads at once, ``rounds`` times each over ``cases``: every
    result bit-equal to the one computed alone (state kept per thread, such as the blocked
    kernels' work buffers, must not be shared)."""
    import threading

    alone = [call(*case) for case in cases]
    failures: list[str] = []

    def work(k: int) -> None:
        for r in range(rounds):
            i = (k + r) % len(cases)
            if not torch.equal(call(*cases[i]), alone[i]):
                failures.append(f"thread {k}, round {r}, case {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures


def assert_compiled_equals_eager(call, x: torch.Tensor) -> None:
    """``call(x)`` under ``torch.compile`` (aot_eager, fullgraph) equals it eager: the loss
    and its gradient with respect to ``x`` (of the summed loss), finite, to 1e-12."""
    torch._dynamo.reset()
    compiled = torch.compile(call, backend="aot_eager", fullgraph=True)
    out = []
    for f in (compiled, call):
        z = x.clone().requires_grad_()
        loss = f(z)
        out.append((loss, *torch.autograd.grad(loss.sum(), z)))
    for got, want in zip(*out, strict=True):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def leave_out(logits: torch.Tensor, labels: torch.Tensor, how: str) -> dict:
    """Positions left out of ``logits`` ``(N, C, H, W)`` / ``labels`` ``(N, H, W)`` (N >= 2,
    H >= 3), changed in place to hold what must reach nothing, and the keyword arguments that
    leave them out. ``"ignore"``: label 255 in two rows of sample 0, a NaN logit there,
    ``ignore_index=255``. ``"mask"``: a mask leaving out sample 1 from row 1 on, its middle rows
    keeping valid labels and its last row an out-of-range label 9, an inf logit there.
    ``"none"``: nothing."""
    if how == "ignore":
        labels[0, :2] = 255
        logits[0, :, 0, 0] = float("nan")
        return {"ignore_index": 255}
    if how == "mask":
        keep = torch.ones(labels.shape, dtype=torch.bool)
        keep[1, 1:] = False
        labels[1, -1] = 9
        logits[1, :, 2, 2] = float("inf")
        return {"mask": keep}
    assert how == "none", how
    return {}


def timm_in_input_dtype(peer, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """timm's loss forward with its ``.float()`` casts made no-ops, so that its arithmetic
    runs in the input's dtype (float64 in the parity tests)."""
    cast = torch.Tensor.float
    try:
        torch.Tensor.float = lambda t: t  # type: ignore[method-assign]
        return peer(x, target)
    finally:
        torch.Tensor.float = cast  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`losskit demo --quick`, run once per test session: (folder, index.html text)."""
    from losskit.cli.main import main

    out = tmp_path_factory.mktemp("demo") / "report"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out, (out / "index.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ hypothesis

from hypothesis import HealthCheck, settings  # noqa: E402

#: the suite's profile: reproducible (derandomised, no example database), no deadline
#: (gradcheck is slow); "thorough" runs ten times the examples (HYPOTHESIS_PROFILE=thorough)
_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("losskit", derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "losskit"))


def _property_cases() -> Counter[str]:
    import sys

    module = sys.modules.get("tests.test_properties")
    return Counter(getattr(module, "CASES", None) or {})


#: the counts the pytest-xdist workers sent back (the controller runs no test itself)
_FROM_WORKERS: Counter[str] = Counter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the counts to the controller
        workeroutput["property_cases"] = dict(_property_cases())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    _FROM_WORKERS.update(getattr(node, "workeroutput", {}).get("property_cases", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many cases the property tests generated in this run (all workers together)."""
    cases = _property_cases() + _FROM_WORKERS
    if cases:
        terminalreporter.write_sep("-", f"property tests: {sum(cases.values())} generated cases")
        for name, count in sorted(cases.items()):
            terminalreporter.write_line(f"  {name}: {count}")
