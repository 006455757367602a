"""Opponent-shaping update rules, written once over parameter dicts.

Every learner of the package that looks ahead at its opponent's learning step
(exact LOLA, LOLA-PG, LOLA-OM, the coin-game LOLA-DiCE in parameter or policy
space) computes its update here. Two things are chosen separately:

1. A :class:`ValueModel`: both players' losses ``L_i = -V_i`` as differentiable
   functions of both players' parameters (dicts of tensors). The package has three:
   the closed form of the iterated matrix games (:class:`ClosedFormValues`), the
   policy-gradient surrogates of LOLA-PG and the DiCE objectives on a sampled batch
   (:class:`SampledValues`, built by the learners from :mod:`lola_agents.estimators`).
2. An :class:`UpdateRule`: naive, LookAhead, LOLA, LOLA-full, SOS or HOLA, which
   combines derivatives of those losses from a :class:`GradientBundle`.

Notation (player ``i``, opponent ``j``, look-ahead rate ``eta``):

* ``gradient(i, k)`` = grad_k L_i;  ``naive(i)`` = xi_i = grad_i L_i;
* ``shaping(i)`` = chi_i = grad_i[ stop(grad_j L_i) . grad_j L_j ] (LOLA's term: how my
  parameters change the opponent's step);
* ``lookahead(i)`` = grad_i[ grad_j L_i . stop(grad_j L_j) ] (my gradient after the
  opponent's step; the LookAhead term);
* ``hola(i, n)``: the order-n LOLA direction.

The look-ahead can be taken in parameter space (the opponent's parameters are its
weights, or its 5 logits for a memory-1 policy) or in policy space (the opponent's
parameters are its logits at every visited step, one step per game): the rules are
the same, only the value model's parameterisation of the opponent differs, and a
per-game step enters through :attr:`ValueModel.step_scale`.

Derivatives of sampled models are sums over ``parts`` (slices of the batch's games),
so one slice's double-backward graph is alive at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from coin_game_env.core import check_number

Tensor = torch.Tensor
ParamDict = dict[str, Tensor]
# A player's parameters: a dict of tensors, or one tensor (the exact learners'
# ``[runs, d]`` logits); every helper keeps that shape.
Tree = Tensor | ParamDict


# --------------------------------------------------------------------------- value models
class ValueModel(Protocol):
    """Both players' losses as functions of both players' parameters.

    Attributes:
        parts: pieces of the batch whose losses add up to the whole (slices of games);
            ``[None]`` for a closed form.
        same_orders: the losses of order 1 and 2 are one function (closed form, DiCE),
            so one autograd graph serves every derivative.
        batch_dims: leading axes of every parameter that index independent runs
            (1 for the batched exact learners, 0 for one learner).
        shares_forward: (optional, default False) the model reuses one forward pass of a
            player's policy in several losses at the same parameters, so first-order
            gradients keep their graph (``retain_graph``) for the later derivatives.
    """

    parts: Sequence[Any]
    same_orders: bool
    batch_dims: int

    def loss(self, i: int, params: tuple[Any, Any], order: int, part: Any) -> Tensor:
        """Scalar whose derivatives of order ``order`` (1 or 2) estimate those of ``L_i``
        on ``part`` (summed over runs; a part's share of the mean over games)."""
        ...

    def step_scale(self, j: int) -> float:
        """How much larger player ``j``'s own learning step is than ``eta * grad_j L_j``:
        1 for shared parameters; the number of games when each game has its own
        parameters (policy-space look-ahead on per-game logits)."""
        ...


class ClosedFormValues:
    """Exact losses ``(theta_0, theta_1) -> [runs, 2]``, summed over runs.

    Args:
        losses: e.g. :meth:`lola_agents.learners.exact.DifferentiableGame.loss_pair`,
            ``(theta_0 [runs, d], theta_1 [runs, d]) -> [runs, 2]`` (``L_i = -V_i``).
    """

    parts = (None,)
    same_orders = True
    batch_dims = 1

    def __init__(self, losses: Callable[[Tensor, Tensor], Tensor]) -> None:
        self.losses = losses
        self._cache: tuple[tuple[Tensor, Tensor], Tensor] | None = None

    def loss(self, i: int, params: tuple[Any, Any], order: int, part: Any) -> Tensor:
        # One forward pass gives both losses; reuse it for the same parameter tensors.
        if self._cache is None or any(
            a is not b for a, b in zip(self._cache[0], params, strict=True)
        ):
            self._cache = (params, self.losses(params[0], params[1]))
        return self._cache[1][:, i].sum()

    def step_scale(self, j: int) -> float:
        return 1.0


# --------------------------------------------------------------------------- parameter algebra
def _leaves(tree: Tree | list[Tensor]) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    return list(tree) if isinstance(tree, list) else list(tree.values())


def _like(tree: Tree | list[Tensor], leaves: Sequence[Tensor]) -> Any:
    if isinstance(tree, Tensor):
        (leaf,) = leaves
        return leaf
    if isinstance(tree, list):
        return list(leaves)
    return dict(zip(tree, leaves, strict=True))


def as_leaves(tree: Tree) -> Tree:
    """A copy whose tensors are detached leaves that require grad."""
    return _like(tree, [v.detach().requires_grad_(True) for v in _leaves(tree)])


def detach(tree: Tree) -> Tree:
    return _like(tree, [v.detach() for v in _leaves(tree)])


def _grad(
    output: Tensor | Sequence[Tensor],
    inputs: Tree | list[Tensor],
    grad_outputs: Sequence[Tensor] | None = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> Tree:
    """``autograd.grad`` shaped like ``inputs`` (zeros where unused)."""
    leaves = _leaves(inputs)
    result = torch.autograd.grad(
        output,
        leaves,
        grad_outputs=grad_outputs,
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
    )
    return _like(
        inputs,
        [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, result, strict=True)],
    )


def _add_into(total: Tree | None, part: Tree) -> Tree:
    if total is None:
        return part
    return _like(total, [a + b for a, b in zip(_leaves(total), _leaves(part), strict=True)])


def combine(a: Tree, b: Tree, scale: float | Tensor = 1.0) -> Tree:
    """``a + scale * b`` (``scale`` a number, or one per run ``[runs]``)."""
    return _like(
        a, [x + _per_run(scale, y) * y for x, y in zip(_leaves(a), _leaves(b), strict=True)]
    )


def scale(tree: Tree, factor: float) -> Tree:
    return _like(tree, [factor * v for v in _leaves(tree)])


def dot(a: Tree, b: Tree, batch_dims: int) -> Tensor:
    """Inner product over every non-run axis: ``[runs]`` (or a scalar with no run axis)."""
    total = None
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        axes = tuple(range(batch_dims, x.dim()))
        term = (x * y).sum(axes) if axes else x * y
        total = term if total is None else total + term
    assert total is not None
    return total


def norm(a: Tree, batch_dims: int) -> Tensor:
    """Euclidean norm over every non-run axis: ``[runs]`` (or a scalar)."""
    leaves = _leaves(a)
    if len(leaves) == 1:
        return torch.linalg.vector_norm(leaves[0], dim=tuple(range(batch_dims, leaves[0].dim())))
    return torch.sqrt(dot(a, a, batch_dims))


def _per_run(factor: float | Tensor, like: Tensor) -> float | Tensor:
    if isinstance(factor, Tensor) and factor.dim() > 0:
        return factor.view(*factor.shape, *([1] * (like.dim() - factor.dim())))
    return factor


# --------------------------------------------------------------------------- derivatives
class GradientBundle:
    """Every derivative the rules need at one point, computed lazily and cached.

    Args:
        model: a :class:`ValueModel`.
        params: ``(params_0, params_1)``, each a dict of tensors or one tensor (copied
            as leaves that require grad).
        eta: the look-ahead rate (the opponent's learning rate LOLA assumes).
    """

    def __init__(self, model: ValueModel, params: tuple[Tree, Tree], eta: float) -> None:
        self.model = model
        self.eta = eta
        self.params: tuple[Tree, Tree] = (as_leaves(params[0]), as_leaves(params[1]))
        self._single_graph = model.same_orders and len(model.parts) == 1
        self._cache: dict[tuple, Any] = {}

    @property
    def batch_dims(self) -> int:
        return self.model.batch_dims

    def step_eta(self, j: int) -> float:
        """Player ``j``'s assumed learning rate on its mean loss (``eta * step_scale``)."""
        return self.eta * self.model.step_scale(j)

    def gradient(self, i: int, k: int) -> Tree:
        """grad_k L_i (summed over parts); with one closed-form graph, kept for reuse."""
        key = ("grad", i, k)
        if key not in self._cache:
            if self._single_graph:
                # One backward pass gives the gradient for both players' parameters.
                first, second = _leaves(self.params[0]), _leaves(self.params[1])
                both = _grad(
                    self.model.loss(i, self.params, 2, None), [*first, *second], create_graph=True
                )
                self._cache[("grad", i, 0)] = _like(self.params[0], both[: len(first)])
                self._cache[("grad", i, 1)] = _like(self.params[1], both[len(first) :])
            else:
                total = None
                retain = getattr(self.model, "shares_forward", False)
                for part in self.model.parts:
                    loss = self.model.loss(i, self.params, 1, part)
                    total = _add_into(total, _grad(loss, self.params[k], retain_graph=retain))
                self._cache[key] = total
        return self._cache[key]

    def naive(self, i: int) -> Tree:
        return self.gradient(i, i)

    def cross_vjp(self, i: int, subject: int, wrt: int, vector: Tree) -> Tree:
        """``grad_wrt[ vector . grad_j L_subject ]`` with ``j = 1 - i`` and ``vector`` fixed.

        The mixed second derivative of ``L_subject`` contracted with ``vector``,
        summed over parts (one part's graph alive at a time).
        """
        j = 1 - i
        vector_leaves = _leaves(detach(vector))
        if self._single_graph:
            return _grad(
                _leaves(self.gradient(subject, j)),
                self.params[wrt],
                grad_outputs=vector_leaves,
                retain_graph=True,
            )
        total = None
        for part in self.model.parts:
            grads = _grad(
                self.model.loss(subject, self.params, 2, part), self.params[j], create_graph=True
            )
            total = _add_into(
                total, _grad(_leaves(grads), self.params[wrt], grad_outputs=vector_leaves)
            )
        return total

    def shaping(self, i: int, v: Tree | None = None) -> Tree:
        """chi_i = grad_i[ stop(v) . grad_j L_j ], ``v = grad_j L_i`` unless given
        (e.g. evaluated after the opponent's look-ahead step, :func:`lookahead_point`)."""
        if v is not None:
            return self.cross_vjp(i, 1 - i, i, v)
        key = ("shaping", i)
        if key not in self._cache:
            self._cache[key] = self.cross_vjp(i, 1 - i, i, self.gradient(i, 1 - i))
        return self._cache[key]

    def lookahead(self, i: int) -> Tree:
        """grad_i[ grad_j L_i . stop(grad_j L_j) ]."""
        key = ("lookahead", i)
        if key not in self._cache:
            self._cache[key] = self.cross_vjp(i, i, i, self.gradient(1 - i, 1 - i))
        return self._cache[key]

    def hola(
        self, i: int, order: int, top_level: bool = True, inner_stop_gradient: bool = False
    ) -> Tree:
        """Order-n LOLA direction of player i: the opponent is modelled as an
        order-(n-1) LOLA learner (order 0 = naive learner).

        ``D_i^(n) = grad_i L_i - eta * grad_i[ stop(grad_j L_i) . D_j^(n-1) ]``.
        The stop-gradient is the paper's and applies to the learner's own
        objective (``top_level``); inside the modelled opponent step
        ``D_j^(n-1)`` every factor keeps its dependence on ``theta_i``, since
        the opponent's step is a function of both players' parameters.
        Order 1 equals the paper's LOLA rule. ``inner_stop_gradient=True`` also
        stops the gradient inside the modelled opponent step (a variant).
        Needs a closed-form model (derivatives of order > 2).
        """
        if not self._single_graph:
            raise ValueError("HOLA needs a closed-form value model (derivatives of order > 2)")
        key = ("hola", i, order, top_level, inner_stop_gradient)
        if key not in self._cache:
            if order == 0:
                result = self.naive(i)
            else:
                j = 1 - i
                opponent_step = self.hola(j, order - 1, False, inner_stop_gradient)
                weights = self.gradient(i, j)
                if top_level or inner_stop_gradient:
                    weights = detach(weights)
                correction = _grad(
                    _leaves(opponent_step),
                    self.params[i],
                    grad_outputs=_leaves(weights),
                    create_graph=not top_level,
                    retain_graph=True,
                )
                result = combine(self.naive(i), correction, -self.eta)
            self._cache[key] = result
        return self._cache[key]


def lookahead_point(bundle: GradientBundle, j: int) -> tuple[Tree, Tree]:
    """Both players' parameters after player ``j``'s anticipated naive step
    ``theta_j - eta * step_scale * grad_j L_j`` (no graph)."""
    ahead = detach(combine(bundle.params[j], bundle.naive(j), -bundle.step_eta(j)))
    return (bundle.params[0], ahead) if j == 1 else (ahead, bundle.params[1])


def gradient_at(model: ValueModel, params: tuple[Tree, Tree], i: int, k: int) -> Tree:
    """grad_k L_i at ``params`` (no graph), summed over the model's parts. Only player
    ``k``'s parameters require grad, so a model may skip the terms without them."""
    leaves = tuple(as_leaves(p) if index == k else detach(p) for index, p in enumerate(params))
    total = None
    for part in model.parts:
        total = _add_into(total, _grad(model.loss(i, leaves, 1, part), leaves[k]))
    return total


# --------------------------------------------------------------------------- update rules
class UpdateRule:
    """A learner's update: ``theta_i <- theta_i - lr * direction(bundle, i)`` (descent on L_i)."""

    name = "rule"

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        """Descent direction of ``player`` (0 or 1), shaped like its parameters."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class NaiveLearner(UpdateRule):
    """NL: ``xi_i = grad_i L_i`` (plain simultaneous gradient descent)."""

    name = "NL"

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        return grads.naive(player)


class LOLA(UpdateRule):
    """LOLA, paper rule (Foerster et al. 2018, eq. 4.2 with the stop-gradient):
    ``xi_i - eta * grad_i[ stop(grad_j L_i) . grad_j L_j ]``.

    Args:
        v_after_lookahead: evaluate ``grad_j L_i`` after the opponent's anticipated
            step instead of before (the first-order expansion of DiCE's
            ``grad_i L_i(theta_i, theta_j - eta grad_j L_j)``, as the coin-game
            LOLA-DiCE learner uses it).
    """

    name = "LOLA"

    def __init__(self, v_after_lookahead: bool = False) -> None:
        self.v_after_lookahead = bool(v_after_lookahead)

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        return combine(
            grads.naive(player), self.shaping(grads, player), -grads.step_eta(1 - player)
        )

    def v(self, grads: GradientBundle, player: int) -> Tree:
        """``grad_j L_i``, before or after the opponent's anticipated step."""
        if not self.v_after_lookahead or grads.eta == 0:
            return grads.gradient(player, 1 - player)
        return gradient_at(grads.model, lookahead_point(grads, 1 - player), player, 1 - player)

    def shaping(self, grads: GradientBundle, player: int) -> Tree:
        """chi of ``player`` under this rule's choice of v."""
        if not self.v_after_lookahead or grads.eta == 0:
            return grads.shaping(player)
        return grads.shaping(player, self.v(grads, player))


class LOLAFull(UpdateRule):
    """Full first-order Taylor LOLA (as in the SOS paper): the gradient of
    ``L_i + grad_j L_i . (-eta grad_j L_j)`` with nothing stopped, i.e.
    LookAhead term plus shaping term."""

    name = "LOLA-full"

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        both = combine(grads.lookahead(player), grads.shaping(player))
        return combine(grads.naive(player), both, -grads.eta)


class LookAhead(UpdateRule):
    """LookAhead (Zhang & Lesser 2010; SOS paper's LA): the first-order gradient of
    ``L_i(theta_i, theta_j - eta * stop(grad_j L_j))``, no shaping."""

    name = "LA"

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        return combine(grads.naive(player), grads.lookahead(player), -grads.eta)


class SOS(UpdateRule):
    """Stable Opponent Shaping (Letcher et al. 2019): ``LA - p * eta * chi``.

    ``p = min(p1, p2)`` per run and per player (the paper computes it over the
    joint gradient of all players; per player makes the rule pairable with any
    opponent): ``p1 = 1`` if ``<-eta chi, LA> >= 0`` else
    ``min(1, -a |LA|^2 / <-eta chi, LA>)``; ``p2 = |xi|^2`` if ``|xi| < b`` else 1.
    """

    name = "SOS"

    def __init__(self, a: float = 0.5, b: float = 0.1) -> None:
        self.a = check_number("sos a", a, high=1.0)
        self.b = check_number("sos b", b)

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        dims = grads.batch_dims
        xi = grads.naive(player)
        lookahead = combine(xi, grads.lookahead(player), -grads.eta)
        shaping_step = scale(grads.shaping(player), -grads.eta)
        dot_ = dot(shaping_step, lookahead, dims)
        safe_dot = torch.where(dot_ < 0, dot_, -torch.ones_like(dot_))  # no 0-division where unused
        p1 = torch.where(
            dot_ >= 0,
            torch.ones_like(dot_),
            torch.clamp(-self.a * dot(lookahead, lookahead, dims) / safe_dot, max=1.0),
        )
        xi_norm = norm(xi, dims)
        p2 = torch.where(xi_norm < self.b, xi_norm**2, torch.ones_like(xi_norm))
        return combine(lookahead, shaping_step, torch.minimum(p1, p2))


class HigherOrderLOLA(UpdateRule):
    """Higher-order LOLA (Foerster et al. 2018, sec. 4.2 / the higher-order
    table): the opponent is assumed to be an order-(n-1) LOLA learner rather
    than a naive one; order 1 is LOLA, order 2 ("HOLA-2") models a LOLA opponent.
    See :meth:`GradientBundle.hola`."""

    def __init__(self, order: int = 2, inner_stop_gradient: bool = False) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"HOLA order must be an integer >= 1, got {order!r}")
        self.order = order
        self.inner_stop_gradient = bool(inner_stop_gradient)
        self.name = f"HOLA-{order}" + ("-stop" if inner_stop_gradient else "")

    def direction(self, grads: GradientBundle, player: int) -> Tree:
        return grads.hola(player, self.order, True, self.inner_stop_gradient)


RULE_NAMES = ("NL", "LA", "LOLA", "LOLA-full", "SOS", "HOLA-2")


def make_rule(rule: str | UpdateRule, sos_a: float = 0.5, sos_b: float = 0.1) -> UpdateRule:
    """Rule object from a name in :data:`RULE_NAMES` (or ``HOLA-<n>``), or pass one through."""
    if isinstance(rule, UpdateRule):
        return rule
    fixed = {"NL": NaiveLearner, "LA": LookAhead, "LOLA": LOLA, "LOLA-full": LOLAFull}
    if rule in fixed:
        return fixed[rule]()
    if rule == "SOS":
        return SOS(sos_a, sos_b)
    if (
        isinstance(rule, str)
        and rule.startswith("HOLA-")
        and rule[5:].isdigit()
        and int(rule[5:]) >= 1
    ):
        return HigherOrderLOLA(int(rule[5:]))
    raise ValueError(f"unknown learner {rule!r}; known: {list(RULE_NAMES)} or 'HOLA-<n>' (n >= 1)")


# --------------------------------------------------------------------------- unrolled look-ahead
def unrolled_lookahead_gradient(
    objective: Callable[[Tensor, Tensor, int, bool], Tensor],
    own: Tensor,
    opponent_start: Tensor,
    steps: int,
    inner_lr: float,
) -> Tensor:
    """LOLA-DiCE's update: differentiate my value through ``steps`` opponent steps.

    ``theta_j^{m+1} = theta_j^m + inner_lr * grad_j V_j(theta_i, theta_j^m)`` keeping the
    graph, so ``theta_j^k`` is a function of my ``theta_i``; returns
    ``d V_i(theta_i, theta_j^k) / d theta_i`` (an ascent direction shaped like ``own``).

    Args:
        objective: ``(own, opponent, step, for_opponent) -> V`` scalar, the value
            estimate (e.g. DiCE on episodes played by the parameters of look-ahead step
            ``step``; ``step = steps`` for my outer objective).
        own: my parameters (a leaf that requires grad).
        opponent_start: the opponent's parameters before the look-ahead.
        steps: k (0 = my naive gradient).
        inner_lr: the opponent's learning rate in the look-ahead.
    """
    opponent = opponent_start.detach().requires_grad_(True)
    for step in range(steps):
        inner = objective(own, opponent, step, True)
        (opponent_grad,) = torch.autograd.grad(inner, opponent, create_graph=True)
        opponent = opponent + inner_lr * opponent_grad
    outer = objective(own, opponent, steps, False)
    (gradient,) = torch.autograd.grad(outer, own)
    return gradient
