"""Coin game rendering: rgb_array pixels at known cells, human mode headless,
ansi text, and the GIF recorder (helper and command)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

from coin_game_env import make
from coin_game_env.coin_game import BLUE, RED
from coin_game_env.record import main as record_main
from coin_game_env.record import random_policy, record_episode
from coin_game_env.rendering import BACKGROUND, coin_game_cell_rect
from coin_game_env.rendering import BLUE as BLUE_RGB
from coin_game_env.rendering import RED as RED_RGB

STAY = 4


def env_with_board(agents, coins, colours, grid_size=3, render_mode="rgb_array"):
    env = make("coin_game_v0", render_mode=render_mode, grid_size=grid_size,
               num_coins=len(coins), stay_action=True)
    env.reset(seed=0)
    g = grid_size
    env.core.agent_cells[0] = [r * g + c for r, c in agents]
    env.core.coin_cells[0] = [r * g + c for r, c in coins]
    env.core.coin_colours[0] = colours
    return env


def pixel(frame: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in frame[y, x])


def test_rgb_array_shows_agents_and_coin_at_their_cells():
    env = env_with_board([(0, 0), (2, 1)], [(1, 2)], [BLUE])
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert pixel(frame, *coin_game_cell_rect(3, 0, 0).center) == RED_RGB
    assert pixel(frame, *coin_game_cell_rect(3, 2, 1).center) == BLUE_RGB
    assert pixel(frame, *coin_game_cell_rect(3, 1, 2).center) == BLUE_RGB  # the blue coin
    for empty in [(0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 2)]:
        assert pixel(frame, *coin_game_cell_rect(3, *empty).center) == BACKGROUND
    # A red coin is drawn red; the coin is smaller than an agent (its corner is background).
    env.core.coin_colours[0] = [RED]
    frame = env.render()
    rect = coin_game_cell_rect(3, 1, 2)
    assert pixel(frame, *rect.center) == RED_RGB
    assert pixel(frame, rect.left + rect.width // 5, rect.top + rect.height // 5) == BACKGROUND
    agent_rect = coin_game_cell_rect(3, 0, 0)
    assert pixel(frame, agent_rect.left + agent_rect.width // 5, agent_rect.top + agent_rect.height // 5) == RED_RGB


def test_agents_on_one_cell_are_drawn_side_by_side():
    env = env_with_board([(1, 1), (1, 1)], [(0, 0)], [RED], grid_size=5)
    frame = env.render()
    rect = coin_game_cell_rect(5, 1, 1)
    left = (rect.left + rect.width // 3, rect.centery)
    right = (rect.right - rect.width // 3, rect.centery)
    assert pixel(frame, *left) == RED_RGB
    assert pixel(frame, *right) == BLUE_RGB


def test_two_coins_and_scores_change_the_frame():
    env = env_with_board([(0, 0), (2, 2)], [(0, 1), (2, 0)], [RED, BLUE])
    frame = env.render()
    assert pixel(frame, *coin_game_cell_rect(3, 0, 1).center) == RED_RGB
    assert pixel(frame, *coin_game_cell_rect(3, 2, 0).center) == BLUE_RGB
    # Red picks its coin: the score line below the board changes.
    env.step({"player_0": 0, "player_1": STAY})
    after = env.render()
    board_bottom = coin_game_cell_rect(3, 2, 2).bottom + 1
    assert not np.array_equal(frame[board_bottom:], after[board_bottom:])


def test_human_mode_runs_headless():
    env = make("coin_game_v0", render_mode="human")
    env.reset(seed=0)
    env.core.render_fps = 1000  # don't sleep between frames in a test
    env._window.fps = 1000
    for _ in range(3):
        assert env.step({"player_0": 0, "player_1": 1})[0] is not None
    assert env.render() is None
    env.close()


def test_ansi_shows_the_board():
    env = env_with_board([(0, 0), (2, 1)], [(1, 2)], [BLUE], render_mode="ansi")
    text = env.render()
    assert text.splitlines()[:3] == ["R . .", ". . b", ". B ."]
    assert "step 0/150" in text


def test_gif_helper_writes_a_readable_animation(tmp_path):
    out = tmp_path / "game.gif"
    frames = record_episode(out, (random_policy(4, 1), lambda obs: 0), seed=3, steps=12, fps=5)
    assert len(frames) == 13
    with Image.open(out) as gif:
        assert gif.n_frames == 13 and gif.size == (frames[0].shape[1], frames[0].shape[0])
        assert gif.info["duration"] == 200
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
    # Quantising to a 256-colour palette only nudges anti-aliased text; the game
    # colours read back exactly.
    assert np.abs(first.astype(int) - frames[0]).max() <= 8
    for colour in (RED_RGB, BLUE_RGB):
        is_colour = np.all(frames[0] == colour, axis=2)
        assert is_colour.sum() > 1000 and np.all(first[is_colour] == colour)


def test_gif_command(tmp_path, capsys):
    out = tmp_path / "cmd.gif"
    record_main(["--out", str(out), "--seed", "0", "--policy-0", "random",
                 "--policy-1", "random", "--steps", "5", "--num-coins", "2"])
    assert "6 frames" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames == 6


def test_gif_command_refuses_a_bad_policy(tmp_path):
    with pytest.raises(ValueError, match=r"policy must be 'random' or 'package.module:function', got 'greedy'"):
        record_main(["--out", str(tmp_path / "x.gif"), "--policy-0", "greedy"])


def test_gif_command_plays_a_user_policy_from_an_import_path(tmp_path, monkeypatch):
    seen = []

    def always_up(obs):
        seen.append(obs.shape)
        return 3

    module = types.ModuleType("user_policies")
    module.always_up = always_up
    monkeypatch.setitem(sys.modules, "user_policies", module)
    record_main(["--out", str(tmp_path / "up.gif"), "--policy-1", "user_policies:always_up",
                 "--steps", "4", "--grid-size", "4"])
    assert seen == [(4, 4, 4)] * 4
    with pytest.raises(ValueError, match=r"policy 'user_policies:nothing' is not a callable"):
        record_main(["--out", str(tmp_path / "x.gif"), "--policy-0", "user_policies:nothing"])
