"""Learners: every algorithm that updates a policy, one module each.

Where to start reading: :mod:`lola_agents.shaping` holds the update rules (naive,
LookAhead, LOLA, LOLA-full, SOS, HOLA) written once over parameter dicts, and
:mod:`lola_agents.estimators` the value estimators they differentiate (returns,
GAE, policy-gradient surrogates, DiCE). The modules here wrap them into agents of
the rollout interface (:mod:`lola_agents.rollout`):

- :mod:`.exact`: exact gradients of the iterated 2x2 games (closed-form values),
  all rules, many runs batched.
- :mod:`.lola`: the one LOLA agent over any policy (tabular or network): its update loop,
  checkpoint code, value model and every LOLA variant (NL, LOLA-PG, LOLA-DiCE in
  parameter or policy space, LOLA-OM, advantage alignment). The modules below are its presets.
- :mod:`.pg`: the paper's tabular naive PG and LOLA-PG (sampled policy-gradient estimates).
- :mod:`.opponent_model`: LOLA-OM (the opponent's parameters replaced by a model fitted
  to its actions) and the one opponent-model fit.
- :mod:`.dice`: tabular LOLA-DiCE (k look-ahead steps through the DiCE estimator).
- :mod:`.coin`: the coin-game presets (paper, fast, adalign, lola_policy).
- :mod:`.adalign`: the advantage-alignment objective (Duque et al.).
- :mod:`.loqa`: LOQA (Aghajohari et al.): shapes the opponent's Q-values, modelled as a
  softmax policy; trained in self-play against a replay buffer of past selves.
- :mod:`.ppo`, :mod:`.shared_ppo`: PPO baselines on stable-baselines3.

A new learner goes here as one module: an agent class with ``act``/``learn``/
``state_dict`` (see :class:`lola_agents.rollout.StatefulAgent`), its hyper-parameters
a dataclass whose defaults are the paper's, its update built from
:mod:`lola_agents.shaping` and :mod:`lola_agents.estimators`.
"""
