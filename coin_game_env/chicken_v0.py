"""Iterated chicken.

| property | value |
|---|---|
| agents | ``player_0``, ``player_1`` |
| actions | ``Discrete(2)``: 0 = swerve, 1 = straight |
| observations | as :mod:`coin_game_env.ipd_v0` (own-side previous joint action, start=4) |
| rewards (player_0, player_1) | both swerve 0/0, swerve-straight -1/+1, straight-swerve +1/-1, both straight -10/-10 |
| episode | truncated after ``max_cycles`` steps (default 150) |

Options: ``max_cycles``, ``obs_type``, ``render_mode``.
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("chicken_v0")
