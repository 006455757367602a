"""Coin game (LOLA paper version by default).

| property | value |
|---|---|
| agents | ``player_0`` (red), ``player_1`` (blue) |
| actions | ``Discrete(4)``: 0 right (0,+1), 1 left (0,-1), 2 down (+1,0), 3 up (-1,0); ``stay_action=True`` adds 4 = stay (``Discrete(5)``) |
| observations | ``Box(0, 1, (4, grid_size, grid_size), float32)``, one-hot planes [red agent, blue agent, red coin, blue coin], the same tensor for both agents; ``egocentric=True``: agent i sees [me, other, my coin, other's coin]; ``obs_type="flat"``: ``(4 * grid_size**2,)``; ``obs_type="planes_hwc"``: the planes channels last, ``(grid_size, grid_size, 4)`` (RLlib's CNNs, SuperSuit's ``frame_stack_v1``) |
| rewards | +1 to every agent that picks up a coin; -2 to the coin's owner when the other agent picks up a coin of the owner's colour (both agents on a red coin: red -1, blue +1) |
| board | ``grid_size`` x ``grid_size`` torus (default 3); agents start on two different cells; a picked coin respawns at once on a cell free of agents (and of the other coin); one coin whose colour alternates after each pickup, or ``num_coins=2``: one red and one blue coin at all times |
| episode | truncated after ``max_cycles`` steps (default 150), never terminated |
| infos (per agent, each step) | ``own_coins``, ``other_coins``: coins of its own / of the other colour it picked up this step (0 or 1) |
| learners' discount | 0.96 (LOLA paper) |

Options: ``grid_size`` (int, 2..64), ``max_cycles`` (int >= 1), ``num_coins``
(1 or 2), ``stay_action`` (bool), ``egocentric`` (bool), ``obs_type``
("planes", "flat" or "planes_hwc"), ``render_mode`` (None, "human", "rgb_array", "ansi").

    from coin_game_env import coin_game_v0
    env = coin_game_v0.parallel_env(render_mode="rgb_array")
"""

from coin_game_env.registry import pettingzoo_factories

parallel_env, raw_env, env = pettingzoo_factories("coin_game_v0")
