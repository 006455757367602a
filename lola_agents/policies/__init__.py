"""Policies every learner can evaluate at any parameters.

- :mod:`lola_agents.policies.tabular`: memory-1 policies of the iterated matrix games
  (5 logits, one per state) and tabular critics.
- :mod:`lola_agents.policies.coin`: coin-game networks (MLP with an optional history,
  conv + GRU as in the LOLA paper).

The names of :mod:`lola_agents.policies.tabular` are importable from here too
(``from lola_agents.policies.tabular import TabularPolicy``).
"""

from lola_agents.policies.tabular import (
    TabularActor,
    TabularCritic,
    TabularPolicy,
    memory1_log_prob,
)

__all__ = ["TabularActor", "TabularCritic", "TabularPolicy", "memory1_log_prob"]
