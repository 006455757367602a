"""Iterated matching pennies (zero-sum).

| property | value |
|---|---|
| agents | ``player_0`` (the matcher), ``player_1`` |
| actions | ``Discrete(2)``: 0 = heads, 1 = tails |
| observations | ``Discrete(5)`` (numpy int64): previous joint action from the agent's own side, HH=0, HT=1, TH=2, TT=3, start=4; ``obs_type="onehot"`` gives ``Box(0, 1, (5,), float32)`` |
| rewards | player_0 +1 if the actions match, -1 otherwise; player_1 the negative |
| episode | truncated after ``max_cycles`` steps (default 150), never terminated |
| learners' discount | 0.9; Nash equilibrium P(heads) = 0.5 in every state, value 0 |

Options: ``max_cycles``, ``obs_type``, ``render_mode`` as in :mod:`coin_game_env.ipd_v0`.
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("imp_v0")
