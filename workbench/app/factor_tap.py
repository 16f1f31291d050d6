"""A tap on grouped bars that names the bar that was clicked.

HoloViews turns a tap on a categorical axis into ``factors[int(x)]``, which is only right when
the factors sit one unit apart. Grouped bars (``(distance, run)`` factors) have Bokeh's padding
between groups, so from the second group on that picked the *next* bar (a click on tfidf at
distance 2 listed another run's products). :class:`FactorTap` maps the tap's position through
the axis's real layout (:func:`factor_at`) instead.
"""

from __future__ import annotations

from typing import Sequence

import holoviews as hv
from holoviews.streams import Stream


def factor_positions(factors: Sequence, *, factor_padding: float = 0.0, subgroup_padding: float = 0.8,
                     group_padding: float = 1.4) -> list[float]:
    """The centre of each factor on a Bokeh ``FactorRange`` axis (its synthetic coordinates):
    one unit per factor, the paddings between factors, sub-groups and groups."""
    centres, total, previous = [], 0.0, None
    for i, factor in enumerate(factors):
        key = tuple(factor) if isinstance(factor, (tuple, list)) else (factor,)
        if i:
            if len(key) >= 2 and key[0] != previous[0]:
                total += group_padding
            elif len(key) == 3 and key[1] != previous[1]:
                total += subgroup_padding
            else:
                total += factor_padding
        centres.append(total + 0.5)
        total += 1.0
        previous = key
    return centres


def factor_at(factor_range, x: float):
    """The factor of a ``FactorRange`` under the synthetic coordinate ``x`` (``None`` in a gap)."""
    factors = list(factor_range.factors)
    centres = factor_positions(factors, factor_padding=factor_range.factor_padding,
                               subgroup_padding=factor_range.subgroup_padding,
                               group_padding=factor_range.group_padding)
    for factor, centre in zip(factors, centres):
        if centre - 0.5 <= x < centre + 0.5:
            return tuple(factor) if isinstance(factor, list) else factor
    return None


class FactorTap(hv.streams.Tap):
    """``hv.streams.Tap`` whose ``x`` on a categorical axis is the factor under the click."""


def _register() -> None:
    from bokeh.models import FactorRange
    from holoviews.plotting.bokeh.callbacks import TapCallback

    class FactorTapCallback(TapCallback):
        def _process_msg(self, msg):
            x_range = self.plot.handles.get("x_range")
            if isinstance(x_range, FactorRange) and isinstance(msg.get("x"), (int, float)):
                msg = {**msg, "x": factor_at(x_range, float(msg["x"]))}
                if msg["x"] is None:
                    return {}
            return super()._process_msg(msg)

    Stream._callbacks["bokeh"][FactorTap] = FactorTapCallback


_register()
