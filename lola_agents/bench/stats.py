"""Old home of the benchmark statistics: re-exports of :mod:`lola_agents.metrics`.

``describe`` (mean, sample std, Student-t 95% interval) and ``t_quantile_975``
are defined once in :mod:`lola_agents.metrics`, with ``describe_share`` (a share
with its Wilson 95% interval) and ``describe_metric`` (either, by value type).
"""

from lola_agents.metrics import describe, describe_metric, describe_share, t_quantile_975

__all__ = ["describe", "describe_metric", "describe_share", "t_quantile_975"]
