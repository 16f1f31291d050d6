"""An optimizer step that does not import torch's compiler stack.

``torch.optim`` wraps its methods so that ``torch.compile`` leaves them alone: ``step`` imports
``torch._dynamo`` on every call, and ``add_param_group``, ``zero_grad``, ``state_dict``,
``load_state_dict`` and the functional Adam import it on their first call. ``torch._dynamo``
brings ``torch._inductor`` and ``sympy`` with it: about 4 s on an idle 2-core machine, about 24 s
under load, before the first batch, in a process that compiles nothing. The workbench never
compiles, so :func:`eager_optimizer` marks those methods as already excluded from compilation
(the attribute torch itself caches after that import), and :func:`eager_step` runs the
optimizer's own update under ``torch.no_grad()`` (what the wrapper does outside compilation).

Where torch's compiler is already loaded (someone compiled, or a library imported it, as
``transformers`` does for the ``transformer`` family), or where torch's internals have changed
shape, both fall back to the ordinary calls: the numbers are the same either way.
"""

from __future__ import annotations

import inspect
import sys

import torch

_MARK = "__dynamo_disable"


def compiler_loaded() -> bool:
    """Whether ``torch._dynamo`` is imported in this process."""
    return "torch._dynamo" in sys.modules


def _mark_eager(wrapper) -> None:
    inner = getattr(wrapper, "__wrapped__", None)
    if inner is not None and getattr(inner, _MARK, None) is None:
        setattr(inner, _MARK, inner)


def eager_optimizer(cls, *args, **kwargs) -> torch.optim.Optimizer:
    """``cls(*args, **kwargs)`` (a ``torch.optim`` optimizer), without importing the compiler."""
    if not compiler_loaded():
        from torch.optim import adam, optimizer

        for method in (optimizer.Optimizer.add_param_group, optimizer.Optimizer.zero_grad,
                       optimizer.Optimizer.state_dict, optimizer.Optimizer.load_state_dict, adam.adam):
            _mark_eager(method)
    return cls(*args, **kwargs)


def eager_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()``; outside compilation, the update itself under ``torch.no_grad()``."""
    if compiler_loaded() or optimizer.defaults.get("differentiable"):
        optimizer.step()
        return
    update = inspect.unwrap(type(optimizer).step)
    with torch.no_grad():
        update(optimizer)
    # what the step's profiling wrapper records, so learning-rate schedulers see a real step
    optimizer._opt_called = True  # type: ignore[attr-defined]
