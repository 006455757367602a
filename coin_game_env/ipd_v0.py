"""Iterated prisoner's dilemma (LOLA paper version).

| property | value |
|---|---|
| agents | ``player_0``, ``player_1`` |
| actions | ``Discrete(2)``: 0 = cooperate (C), 1 = defect (D) |
| observations | ``Discrete(5)``, each a 0-d int64 numpy array (``np.array(4)``): previous joint action from the agent's own side, CC=0, CD=1, DC=2, DD=3, start=4; ``obs_type="onehot"`` gives ``Box(0, 1, (5,), float32)`` |
| rewards (player_0, player_1) | CC -1/-1, CD -3/0, DC 0/-3, DD -2/-2 |
| episode | truncated after ``max_cycles`` steps (default 150), never terminated |
| learners' discount | 0.96 |

Options: ``max_cycles`` (int >= 1), ``obs_type`` ("discrete" or "onehot"),
``render_mode`` (None, "human", "rgb_array", "ansi").

    from coin_game_env import ipd_v0
    env = ipd_v0.parallel_env(max_cycles=150)
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("ipd_v0")
