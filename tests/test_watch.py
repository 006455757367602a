"""lola-watch and the agent loader: fixed strategies, checkpoints, GIFs, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lola_agents.agents import as_policy, load_agent
from lola_agents.fixed import GreedyCoinAgent
from lola_agents.watch import main


def test_watch_writes_a_gif_and_prints_metrics(tmp_path, capsys):
    gif = tmp_path / "game.gif"
    assert main(["--agent-0", "greedy", "--agent-1", "own-coin", "--gif", str(gif), "--steps", "5", "--episodes", "20"]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == 6  # reset board + 5 steps
    printed = capsys.readouterr().out
    metrics = json.loads(printed[printed.index("{") :])
    # The own-coin agent never takes the other's coin: its own-coin rate is exactly 1.
    assert metrics["player_1"]["own_coin_rate"] == 1.0


def test_checkpoint_round_trip_gives_the_same_actions(tmp_path):
    agent = GreedyCoinAgent(seed=3)
    agent.save(tmp_path / "greedy")
    loaded = load_agent(str(tmp_path / "greedy"))
    assert type(loaded) is GreedyCoinAgent
    obs = np.zeros((4, 3, 3), dtype=np.float32)
    obs[0, 0, 0] = obs[1, 2, 2] = obs[2, 0, 1] = 1.0  # red at (0,0), blue at (2,2), red coin at (0,1)
    assert as_policy(loaded, 0)(obs) == 0  # one step right reaches the coin


def test_bad_agents_get_clear_errors(tmp_path, capsys):
    assert main(["--agent-0", "nobody", "--agent-1", "greedy", "--episodes", "0"]) == 2
    assert "neither a fixed strategy" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt agent checkpoint"):
        load_agent(str(corrupt))
    (corrupt / "config.json").write_text(json.dumps({"class": "Nope", "config": {}}))
    with pytest.raises(ValueError, match="unknown agent class 'Nope'"):
        load_agent(str(corrupt))
