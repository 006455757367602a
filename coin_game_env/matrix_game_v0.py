"""Any iterated 2x2 game.

``payoffs`` is a preset name (``"prisoners_dilemma"``, ``"matching_pennies"``,
``"chicken"``, ``"stag_hunt"``) or numbers of shape ``[2, 2, 2]`` indexed
``[action of player_0, action of player_1, player]``. Observations, actions and
episode end as in :mod:`coin_game_env.ipd_v0`.

    from coin_game_env import matrix_game_v0
    env = matrix_game_v0.parallel_env(payoffs=[[[3, 3], [0, 5]], [[5, 0], [1, 1]]])
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("matrix_game_v0")
