"""The one seeding rule (lola_agents.seeding): checked against numpy's own spawn tree."""

import numpy as np
import pytest
import torch

from lola_agents.seeding import Stream, agent_seed, derive_seed, numpy_generator, torch_generator


def test_empty_path_is_the_seed_itself():
    assert derive_seed(7) == 7
    assert derive_seed(2**64 - 1) == 2**64 - 1


def test_paths_follow_seedsequence_spawn():
    # The child reached by spawn indices (3, 1) under seed 11, built by numpy's spawn API.
    child = np.random.SeedSequence(11).spawn(4)[3].spawn(2)[1]
    assert derive_seed(11, 3, 1) == int(child.generate_state(1, np.uint32)[0])
    seat_seeds = [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(5).spawn(2)]
    assert [agent_seed(5, 0), agent_seed(5, 1)] == seat_seeds


def test_streams_differ_across_paths_and_seeds():
    seeds = {derive_seed(s, *p) for s in range(20) for p in [(0,), (1,), (Stream.EVALUATION,), (Stream.STAND_IN, 0)]}
    assert len(seeds) == 80


def test_generators_are_seeded_by_the_derived_integer():
    expected = np.random.default_rng(derive_seed(3, Stream.ACTING)).random(4)
    np.testing.assert_array_equal(numpy_generator(3, Stream.ACTING).random(4), expected)
    a = torch.rand(3, generator=torch_generator(3, Stream.ACTING))
    b = torch.rand(3, generator=torch.Generator().manual_seed(derive_seed(3, Stream.ACTING)))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "seed, path, message",
    [(-1, (), "seed"), (1.5, (), "seed"), (None, (), "seed"), (0, (-1,), "path"), (0, (True,), "path")],
)
def test_bad_input_is_named(seed, path, message):
    with pytest.raises(ValueError, match=message):
        derive_seed(seed, *path)


def test_agent_seed_rejects_a_third_seat():
    with pytest.raises(ValueError, match="seat must be 0 or 1"):
        agent_seed(0, 2)


def test_ippo_agent_seeds_follow_the_rule():
    from lola_agents.learners.ppo import agent_seeds

    assert agent_seeds(9) == [agent_seed(9, 0), agent_seed(9, 1)]
