"""Iterated stag hunt.

| property | value |
|---|---|
| agents | ``player_0``, ``player_1`` |
| actions | ``Discrete(2)``: 0 = stag, 1 = hare |
| observations | as :mod:`coin_game_env.ipd_v0` (own-side previous joint action, start=4) |
| rewards (player_0, player_1) | stag-stag 4/4, stag-hare 1/3, hare-stag 3/1, hare-hare 2/2 |
| episode | truncated after ``max_cycles`` steps (default 150) |

Options: ``max_cycles``, ``obs_type``, ``render_mode``.
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("stag_hunt_v0")
