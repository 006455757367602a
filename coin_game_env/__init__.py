"""PettingZoo environments for opponent shaping: iterated matrix games and the coin game.

    import coin_game_env
    env = coin_game_env.make("ipd_v0")                        # PettingZoo ParallelEnv
    venv = coin_game_env.make_vec("ipd_v0", num_envs=1024, seed=0)  # batched arrays
    coins = coin_game_env.make_vec("coin_game_v0", num_envs=4000, seed=0)

``coin_game_env.REGISTRY`` lists the ids; each id also has a module in
PettingZoo's style (``coin_game_env.ipd_v0.parallel_env()``, ``.env()``, ``.raw_env()``).
"""

from coin_game_env.coin_game import CoinGameCore
from coin_game_env.core import POSSIBLE_AGENTS, CoreStep, GameCore
from coin_game_env.matrix_game import PRESETS, MatrixGameCore
from coin_game_env.parallel_env import CoreParallelEnv
from coin_game_env.registry import REGISTRY, EnvSpec, get_spec, make, make_vec, register
from coin_game_env.vector_env import VecEnv

__version__ = "0.1.0"

__all__ = [
    "POSSIBLE_AGENTS",
    "PRESETS",
    "REGISTRY",
    "CoinGameCore",
    "CoreParallelEnv",
    "CoreStep",
    "EnvSpec",
    "GameCore",
    "MatrixGameCore",
    "VecEnv",
    "get_spec",
    "make",
    "make_vec",
    "register",
]
