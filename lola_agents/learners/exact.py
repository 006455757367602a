"""Exact-gradient learners: NL, LOLA, LOLA-full, LookAhead, SOS and higher-order LOLA.

Reads top to bottom:

1. :func:`iterated_game_values` - the exact discounted value of two memory-1
   policies in any iterated 2x2 game, float64, batched over runs.
2. :class:`DifferentiableGame` - players' parameters plus one loss per player;
   iterated games, one-shot 2x2 games and the Tandem game share this form
   (:func:`make_game`).
3. :class:`GradientBundle` - :mod:`lola_agents.shaping`'s derivatives over the
   closed-form values; the update rules (naive, LA, LOLA, LOLA-full, SOS, HOLA) are
   :mod:`lola_agents.shaping`'s, each usable by either player against any other.
4. :class:`ExactSettings` (paper defaults) and the trainers :func:`train` /
   :func:`train_pairs`, which return per-update :class:`History` objects.

Conventions (Foerster et al. 2018, sections 3-4, and the official code's layout):

* A memory-1 policy is 5 logits in the environments' own-perspective state
  order ``[CC, CD, DC, DD, start]`` (``coin_game_env.matrix_game.STATE_NAMES``,
  observation index ``2 * my_action + other_action``, start = 4; the official
  ``lola/train_exact.py`` uses the same layout); ``sigmoid(logit)`` is
  P(action 0) = P(cooperate) in the IPD, P(heads) in IMP. So
  ``sigmoid(theta)[obs]`` is the policy of an agent that sees ``obs``.
* Learners minimise losses. For the iterated games ``loss_i = -V_i`` with the
  un-normalised discounted value ``V_i = p0^T (I - gamma P)^-1 r_i`` (as in the
  official runs); reward per step is ``(1 - gamma) * V_i``.
* Every tensor carries a leading ``runs`` axis; runs never interact, so one
  call trains many independent runs (and many learner pairs) at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from coin_game_env.core import check_number
from coin_game_env.matrix_game import PRESETS, STATE_NAMES, payoffs_from
from lola_agents import shaping
from lola_agents.shaping import (  # noqa: F401  (the rules, importable from here as before)
    LOLA,
    RULE_NAMES,
    SOS,
    HigherOrderLOLA,
    LOLAFull,
    LookAhead,
    NaiveLearner,
    UpdateRule,
)

Tensor = torch.Tensor
DTYPE = torch.float64
NUM_POLICY_LOGITS = 5  # [CC, CD, DC, DD, start]
START = 4
POLICY_STATE_NAMES = STATE_NAMES  # ("CC", "CD", "DC", "DD", "start")

# Player_1's own-perspective index of each joint state written from player_0's
# side (joint state 2*a0 + a1): CC and DD read the same, CD and DC swap.
_PLAYER_1_SIDE = [0, 2, 1, 3]


# --------------------------------------------------------------------------- 1. exact value
def _check_logits(name: str, theta: Tensor, width: int) -> None:
    if not isinstance(theta, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(theta).__name__}")
    if theta.dim() != 2 or theta.shape[1] != width:
        raise ValueError(f"{name} must have shape [runs, {width}], got {list(theta.shape)}")
    if not theta.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {theta.dtype}")


def _per_run_payoffs(payoffs: object, runs: int, dtype: torch.dtype) -> Tensor:
    """Rewards by joint state ``[4, 2]`` (one game) or ``[runs, 4, 2]`` (one game per run)."""
    if isinstance(payoffs, str) or np.ndim(payoffs) == 3:
        return torch.as_tensor(payoffs_from(payoffs).reshape(4, 2), dtype=dtype)
    matrix = torch.as_tensor(np.asarray(payoffs, dtype=np.float64), dtype=dtype)
    if matrix.shape != (runs, 2, 2, 2) or not torch.isfinite(matrix).all():
        raise ValueError(
            "payoffs must be a preset name, finite [2, 2, 2] or per-run [runs, 2, 2, 2] "
            f"= [{runs}, 2, 2, 2] numbers; got shape {tuple(matrix.shape)}"
        )
    return matrix.reshape(runs, 4, 2)


def _per_run_gamma(gamma: object, runs: int, dtype: torch.dtype) -> Tensor:
    """Discount as a scalar tensor or ``[runs, 1, 1]``; every value must be in [0, 1)."""
    if isinstance(gamma, bool):
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}")
    values = torch.as_tensor(np.asarray(gamma, dtype=np.float64), dtype=dtype)
    if values.dim() not in (0, 1) or (values.dim() == 1 and values.shape[0] != runs):
        raise ValueError(f"gamma must be a number or [runs] = [{runs}] numbers, got {gamma!r}")
    if not (torch.isfinite(values).all() and (values >= 0).all() and (values < 1).all()):
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    return values if values.dim() == 0 else values[:, None, None]


def iterated_game_values(
    theta_0: Tensor, theta_1: Tensor, payoffs: object, gamma: object
) -> tuple[Tensor, Tensor]:
    """Exact discounted values of two memory-1 policies in an iterated 2x2 game.

    Args:
        theta_0, theta_1: logits ``[runs, 5]`` in own-perspective order
            ``[CC, CD, DC, DD, start]``; sigmoid gives P(action 0).
        payoffs: preset name (``coin_game_env.matrix_game.PRESETS``), array
            ``[2, 2, 2]`` indexed ``[a0, a1, player]``, or one such matrix per
            run ``[runs, 2, 2, 2]`` (several games in one batch).
        gamma: discount in [0, 1), or one per run ``[runs]``.

    Returns:
        ``(V_0, V_1)``, each ``[runs]``: ``V_i = p0^T (I - gamma P)^-1 r_i``,
        differentiable in both logits. Reward per step is ``(1 - gamma) * V_i``.
    """
    _check_logits("theta_0", theta_0, NUM_POLICY_LOGITS)
    _check_logits("theta_1", theta_1, NUM_POLICY_LOGITS)
    if theta_0.shape != theta_1.shape:
        raise ValueError(
            f"theta_0 and theta_1 must have the same shape, got {list(theta_0.shape)} "
            f"and {list(theta_1.shape)}"
        )
    runs = theta_0.shape[0]
    discount = _per_run_gamma(gamma, runs, theta_0.dtype)
    rewards = _per_run_payoffs(payoffs, runs, theta_0.dtype)

    p_0 = torch.sigmoid(theta_0)
    p_1 = torch.sigmoid(theta_1)
    a, b = p_0[:, START], p_1[:, START]
    start = torch.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], dim=-1)
    x = p_0[:, :4]  # player_0's P(action 0) in joint state s
    y = p_1[:, _PLAYER_1_SIDE]  # player_1's P(action 0) in the same joint state
    transition = torch.stack([x * y, x * (1 - y), (1 - x) * y, (1 - x) * (1 - y)], dim=-1)
    eye = torch.eye(4, dtype=theta_0.dtype)
    # Discounted state occupancy d = (I - gamma P)^-T p0, then V_i = d . r_i.
    occupancy = torch.linalg.solve((eye - discount * transition).transpose(-1, -2), start)
    if rewards.dim() == 2:
        values = occupancy @ rewards
    else:
        values = torch.einsum("rs,rsp->rp", occupancy, rewards)
    return values[:, 0], values[:, 1]


def one_shot_game_values(
    theta_0: Tensor, theta_1: Tensor, payoffs: object
) -> tuple[Tensor, Tensor]:
    """Expected payoffs of two mixed strategies in a one-shot 2x2 game.

    Args:
        theta_0, theta_1: logits ``[runs, 1]``; sigmoid gives P(action 0).
        payoffs: preset name or array ``[2, 2, 2]`` indexed ``[a0, a1, player]``.

    Returns:
        ``(V_0, V_1)``, each ``[runs]``.
    """
    _check_logits("theta_0", theta_0, 1)
    _check_logits("theta_1", theta_1, 1)
    rewards = torch.as_tensor(payoffs_from(payoffs).reshape(4, 2), dtype=theta_0.dtype)
    a, b = torch.sigmoid(theta_0[:, 0]), torch.sigmoid(theta_1[:, 0])
    joint = torch.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], dim=-1)
    values = joint @ rewards
    return values[:, 0], values[:, 1]


# --------------------------------------------------------------------------- 2. games
LossFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class DifferentiableGame:
    """Two players, each with a parameter vector ``[runs, num_params]``, and one loss each.

    Attributes:
        name: short name (``"ipd"``, ``"imp"``, ``"tandem"`` ...).
        num_params: parameters per player.
        losses: ``(theta_0, theta_1) -> (L_0, L_1)``, each ``[runs]``; learners
            minimise their own loss.
        kind: ``"iterated"`` (memory-1 policies, ``loss = -V``), ``"one_shot"``
            (mixed strategies, ``loss = -expected payoff``) or ``"custom"``.
        gamma: discount of an iterated game (0 for one-shot games, None for custom).
        payoffs: ``[2, 2, 2]`` payoffs of a matrix game, None otherwise.
        take_rows: for games whose rules differ by row (stacked games), a function
            returning the game restricted to some rows; None when every row plays
            the same game.
    """

    name: str
    num_params: int
    losses: LossFn
    kind: str = "custom"
    gamma: float | None = None
    payoffs: np.ndarray | None = field(default=None, repr=False)
    take_rows: Callable[[np.ndarray], DifferentiableGame] | None = field(default=None, repr=False)

    def rows(self, index: np.ndarray) -> DifferentiableGame:
        """The game played by the runs ``index`` (itself unless rows differ)."""
        return self if self.take_rows is None else self.take_rows(index)

    def check_params(self, theta_0: Tensor, theta_1: Tensor) -> None:
        """Raise a ValueError unless both are floating ``[runs, num_params]`` of one shape."""
        _check_logits("theta_0", theta_0, self.num_params)
        _check_logits("theta_1", theta_1, self.num_params)
        if theta_0.shape != theta_1.shape:
            raise ValueError(
                f"theta_0 and theta_1 must have the same shape, got {list(theta_0.shape)} "
                f"and {list(theta_1.shape)}"
            )

    def loss_pair(self, theta_0: Tensor, theta_1: Tensor) -> Tensor:
        """Both losses stacked ``[runs, 2]``."""
        loss_0, loss_1 = self.losses(theta_0, theta_1)
        return torch.stack([loss_0, loss_1], dim=-1)


def iterated_game(
    payoffs: object, gamma: float | None = None, name: str | None = None
) -> DifferentiableGame:
    """Iterated 2x2 game between memory-1 policies; ``loss_i = -V_i`` (un-normalised).

    ``payoffs``: preset name or ``[2, 2, 2]`` array; ``gamma`` defaults to the preset's.
    """
    matrix = payoffs_from(payoffs)  # raises on an unknown preset or a bad array
    if gamma is None:
        if not isinstance(payoffs, str):
            raise ValueError("gamma is required for an iterated game with custom payoffs")
        gamma = PRESETS[payoffs].gamma
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0 <= gamma < 1:
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}")

    def losses(theta_0: Tensor, theta_1: Tensor) -> tuple[Tensor, Tensor]:
        value_0, value_1 = iterated_game_values(theta_0, theta_1, matrix, gamma)
        return -value_0, -value_1

    label = name or (f"iterated_{payoffs}" if isinstance(payoffs, str) else "iterated_custom")
    return DifferentiableGame(label, NUM_POLICY_LOGITS, losses, "iterated", float(gamma), matrix)


def one_shot_game(payoffs: object, name: str | None = None) -> DifferentiableGame:
    """One-shot 2x2 game between mixed strategies (one logit each); ``loss_i = -E[payoff_i]``."""
    matrix = payoffs_from(payoffs)

    def losses(theta_0: Tensor, theta_1: Tensor) -> tuple[Tensor, Tensor]:
        value_0, value_1 = one_shot_game_values(theta_0, theta_1, matrix)
        return -value_0, -value_1

    label = name or (f"one_shot_{payoffs}" if isinstance(payoffs, str) else "one_shot_custom")
    return DifferentiableGame(label, 1, losses, "one_shot", 0.0, matrix)


def tandem_game() -> DifferentiableGame:
    """Tandem game (Letcher et al. 2019): ``L_0 = (x+y)^2 - 2x``, ``L_1 = (x+y)^2 - 2y``.

    Parameters ``x = theta_0[:, 0]``, ``y = theta_1[:, 0]``; every point with
    ``x + y = 1`` is a stable fixed point.
    """

    def losses(theta_0: Tensor, theta_1: Tensor) -> tuple[Tensor, Tensor]:
        x, y = theta_0[:, 0], theta_1[:, 0]
        total = (x + y) ** 2
        return total - 2 * x, total - 2 * y

    return DifferentiableGame("tandem", 1, losses, "custom", None, None)


def _per_row_iterated_game(name: str, payoffs: np.ndarray, gamma: np.ndarray) -> DifferentiableGame:
    """Iterated game whose row r uses ``payoffs[r]`` ``[2, 2, 2]`` and ``gamma[r]``."""

    def losses(theta_0: Tensor, theta_1: Tensor) -> tuple[Tensor, Tensor]:
        value_0, value_1 = iterated_game_values(theta_0, theta_1, payoffs, gamma)
        return -value_0, -value_1

    def take_rows(index: np.ndarray) -> DifferentiableGame:
        return _per_row_iterated_game(name, payoffs[index], gamma[index])

    return DifferentiableGame(name, NUM_POLICY_LOGITS, losses, "iterated", None, None, take_rows)


def stack_iterated_games(
    games: Sequence[DifferentiableGame], rows_per_game: int
) -> DifferentiableGame:
    """Several iterated games as ONE batched game: rows ``[g * rows_per_game, (g + 1) *
    rows_per_game)`` play ``games[g]`` (its payoffs and discount), so one autograd
    pass serves all of them."""
    if not games or any(g.kind != "iterated" or g.payoffs is None for g in games):
        raise ValueError("stack_iterated_games needs one or more iterated games")
    payoffs = np.repeat(np.stack([g.payoffs for g in games]), rows_per_game, axis=0)
    gamma = np.repeat(np.array([g.gamma for g in games]), rows_per_game)
    return _per_row_iterated_game("+".join(g.name for g in games), payoffs, gamma)


GAMES: dict[str, Callable[[], DifferentiableGame]] = {
    "ipd": lambda: iterated_game("prisoners_dilemma", name="ipd"),
    "imp": lambda: iterated_game("matching_pennies", name="imp"),
    "matching_pennies": lambda: one_shot_game("matching_pennies", name="matching_pennies"),
    "tandem": tandem_game,
}
for _preset in PRESETS:
    GAMES[f"iterated_{_preset}"] = lambda p=_preset: iterated_game(p)
    GAMES[f"one_shot_{_preset}"] = lambda p=_preset: one_shot_game(p)


def make_game(name: str) -> DifferentiableGame:
    """Game by name: ``ipd``, ``imp``, ``matching_pennies`` (one-shot), ``tandem``,
    ``iterated_<preset>`` or ``one_shot_<preset>`` for any matrix-game preset."""
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}; known: {sorted(GAMES)}")
    return GAMES[name]()


# --------------------------------------------------------------------------- 3. gradients and rules
class GradientBundle(shaping.GradientBundle):
    """:class:`lola_agents.shaping.GradientBundle` over a game's closed-form losses.

    ``theta_0``, ``theta_1``: ``[runs, d]``; every derivative is ``[runs, d]``. Runs are
    independent, so ``autograd.grad`` of a sum over runs gives per-run gradients.
    """

    def __init__(self, game: DifferentiableGame, theta_0: Tensor, theta_1: Tensor, eta: float):
        super().__init__(shaping.ClosedFormValues(game.loss_pair), (theta_0, theta_1), eta)
        self.game = game
        self.theta = self.params


def make_rule(rule: str | UpdateRule, settings: ExactSettings | None = None) -> UpdateRule:
    """Rule object from a name in :data:`RULE_NAMES` (or ``HOLA-<n>``), or pass one through."""
    settings = settings or ExactSettings()
    return shaping.make_rule(rule, settings.sos_a, settings.sos_b)


# --------------------------------------------------------------------------- 5. training
@dataclass(frozen=True)
class ExactSettings:
    """Hyper-parameters, defaults = the paper's exact-gradient runs.

    Attributes:
        lr: learning rate delta (paper 1).
        eta: look-ahead rate of LOLA / LA / SOS / HOLA (paper 1).
        updates: number of simultaneous updates (paper 200).
        runs: independent runs per learner pair (paper 50).
        init_std: initial logits ~ N(0, init_std^2) (paper 1).
        seed: seed of the initial draw; same seed -> identical runs.
        sos_a, sos_b: SOS constants (Letcher et al.: 0.5, 0.1).
    """

    lr: float = 1.0
    eta: float = 1.0
    updates: int = 200
    runs: int = 50
    init_std: float = 1.0
    seed: int = 0
    sos_a: float = 0.5
    sos_b: float = 0.1

    def __post_init__(self) -> None:
        check_number("lr", self.lr)
        check_number("eta", self.eta)
        check_number("init_std", self.init_std)
        check_number("sos_a", self.sos_a, high=1.0)
        check_number("sos_b", self.sos_b)
        for name, minimum in (("updates", 0), ("runs", 1), ("seed", 0)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | np.integer)
                or value < minimum
            ):
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class History:
    """Per-update record of one learner pair.

    Attributes:
        game: the game's name; ``rules``: (player_0's rule, player_1's rule) names.
        params: float64 ``[updates + 1, runs, 2, d]``; ``params[t]`` is before update t
            (``params[-1]`` the final parameters). NaN from a run's divergence on.
        losses: float64 ``[updates + 1, runs, 2]`` at those parameters (NaN after divergence).
        diverged_at: int ``[runs]``: first index t at which ``params[t]`` or ``losses[t]``
            was non-finite (the run is frozen from there on), -1 if never.
        gamma: the game's discount (for reward per step), None for custom games.
    """

    game: str
    rules: tuple[str, str]
    params: np.ndarray
    losses: np.ndarray
    diverged_at: np.ndarray
    gamma: float | None

    @property
    def diverged(self) -> np.ndarray:
        """bool ``[runs]``: runs that produced non-finite values at some update."""
        return self.diverged_at >= 0

    @property
    def final_params(self) -> np.ndarray:
        """``[runs, 2, d]``."""
        return self.params[-1]


def initial_params(game: DifferentiableGame, settings: ExactSettings) -> tuple[Tensor, Tensor]:
    """theta_0, theta_1 ``[runs, d]`` ~ N(0, init_std^2) from ``settings.seed``."""
    generator = torch.Generator().manual_seed(settings.seed)
    draw = torch.randn(2, settings.runs, game.num_params, generator=generator, dtype=DTYPE)
    return draw[0] * settings.init_std, draw[1] * settings.init_std


def train_games(
    games: Sequence[DifferentiableGame | str],
    pairs: Sequence[tuple[str | UpdateRule, str | UpdateRule]],
    settings: ExactSettings | None = None,
    init: tuple[Tensor, Tensor] | None = None,
) -> dict[str, list[History]]:
    """Train every learner pair on every game, ``settings.runs`` runs each, in ONE batch.

    Every (game, pair) starts from the same initial parameters (``init`` or
    :func:`initial_params`), so they differ only in game and rules. Several
    games must all be iterated games (stacked with :func:`stack_iterated_games`).
    Each update computes the shared derivatives once for the whole batch
    (:class:`GradientBundle`); each rule's direction is then taken on the runs
    that use it. Runs that produce non-finite parameters or losses are frozen,
    marked in ``History.diverged_at`` and filled with NaN from then on.

    Returns ``{game name: [History per pair, in order]}``.
    """
    settings = settings or ExactSettings()
    games = [make_game(g) if isinstance(g, str) else g for g in games]
    names = [g.name for g in games]
    if not games or len(set(names)) != len(names):
        raise ValueError(f"games must be one or more games with distinct names, got {names}")
    if not pairs:
        raise ValueError("pairs must name at least one (rule_0, rule_1) pair")
    made: dict[str, UpdateRule] = {}  # one object per rule name: its rows form one group

    def rule_object(rule: str | UpdateRule) -> UpdateRule:
        if isinstance(rule, UpdateRule):
            return rule
        if rule not in made:
            made[rule] = make_rule(rule, settings)
        return made[rule]

    rules = [(rule_object(r0), rule_object(r1)) for r0, r1 in pairs]
    if init is None:
        init = initial_params(games[0], settings)
    theta_0, theta_1 = (t.detach().to(DTYPE) for t in init)
    for game in games:
        game.check_params(theta_0, theta_1)
    runs, num_pairs = theta_0.shape[0], len(rules)
    rows_per_game = num_pairs * runs
    batch_game = games[0] if len(games) == 1 else stack_iterated_games(games, rows_per_game)
    # Row layout: game-major, then pair, then run.
    theta = torch.stack([theta_0, theta_1], dim=1).repeat(len(games) * num_pairs, 1, 1)
    total = theta.shape[0]

    # For each player: rule -> (rule, rows using it).
    groups: list[dict[int, tuple[UpdateRule, np.ndarray]]] = []
    for player in range(2):
        rows: dict[int, list[int]] = {}
        objects: dict[int, UpdateRule] = {}
        for g in range(len(games)):
            for k, pair in enumerate(rules):
                rule = pair[player]
                objects[id(rule)] = rule
                first = g * rows_per_game + k * runs
                rows.setdefault(id(rule), []).extend(range(first, first + runs))
        groups.append({key: (objects[key], np.array(idx)) for key, idx in rows.items()})

    params = np.full((settings.updates + 1, total, 2, batch_game.num_params), np.nan)
    losses = np.full((settings.updates + 1, total, 2), np.nan)
    diverged_at = np.full(total, -1, dtype=np.int64)
    alive = torch.ones(total, dtype=torch.bool)

    def mark_diverged(bad: Tensor, t: int) -> None:
        if bad.any():
            diverged_at[bad.numpy()] = t
            alive.logical_and_(~bad)

    for t in range(settings.updates + 1):
        mark_diverged(alive & ~torch.isfinite(theta).all(-1).all(-1), t)
        # Diverged runs sit at a harmless point so they cannot break the batched solve.
        theta = torch.where(alive[:, None, None], theta, torch.zeros_like(theta))
        with torch.no_grad():
            loss_now = batch_game.loss_pair(theta[:, 0], theta[:, 1])
        mark_diverged(alive & ~torch.isfinite(loss_now).all(-1), t)
        alive_np = alive.numpy()
        params[t, alive_np] = theta[alive].numpy()
        losses[t, alive_np] = loss_now[alive].numpy()
        if t == settings.updates:
            break
        # Each rule works on its own rows only: the costly derivatives (HOLA's third
        # order) are then paid only where they are used.
        step = torch.zeros_like(theta)
        for player in range(2):
            for rule, idx in groups[player].values():
                rows_idx = torch.from_numpy(idx)
                grads = GradientBundle(
                    batch_game.rows(idx), theta[rows_idx, 0], theta[rows_idx, 1], settings.eta
                )
                step[rows_idx, player] = rule.direction(grads, player).detach()
        theta = theta - settings.lr * step

    out: dict[str, list[History]] = {}
    for g, game in enumerate(games):
        out[game.name] = []
        for k, (rule_0, rule_1) in enumerate(rules):
            first = g * rows_per_game + k * runs
            rows_k = slice(first, first + runs)
            out[game.name].append(
                History(
                    game.name,
                    (rule_0.name, rule_1.name),
                    params[:, rows_k],
                    losses[:, rows_k],
                    diverged_at[rows_k],
                    game.gamma,
                )
            )
    return out


def train_pairs(
    game: DifferentiableGame | str,
    pairs: Sequence[tuple[str | UpdateRule, str | UpdateRule]],
    settings: ExactSettings | None = None,
    init: tuple[Tensor, Tensor] | None = None,
) -> list[History]:
    """Train several learner pairs on one game in one batch (see :func:`train_games`).

    Returns one :class:`History` per pair, in order.
    """
    game = make_game(game) if isinstance(game, str) else game
    return train_games([game], pairs, settings, init)[game.name]


def train(
    game: DifferentiableGame | str,
    rule_0: str | UpdateRule,
    rule_1: str | UpdateRule,
    settings: ExactSettings | None = None,
    init: tuple[Tensor, Tensor] | None = None,
) -> History:
    """Train player_0 with ``rule_0`` against player_1 with ``rule_1``, all runs batched.

    Args:
        game: a :class:`DifferentiableGame` or a name for :func:`make_game`.
        rule_0, rule_1: rule names (:data:`RULE_NAMES`, ``HOLA-<n>``) or rule objects.
        settings: :class:`ExactSettings` (paper defaults if None).
        init: optional initial ``(theta_0, theta_1)``, each ``[runs, d]``.

    Returns:
        the per-update :class:`History`.
    """
    return train_pairs(game, [(rule_0, rule_1)], settings, init)[0]
