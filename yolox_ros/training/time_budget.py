"""``--time-budget``: planning a run's length on its first epoch, or refusing it.

A ``--time-budget`` run plans its length on its first epoch, the measurement (before one has
run, nothing says how long an epoch takes): the most epochs, up to ``epochs``, whose run with
its evaluations and export ends within the budget, with the warm-up and no-augmentation tails
cut to a quarter of the run each when it is cut; or, when not even two epochs fit, it stops
with the budget they need and leaves nothing. The plan goes into ``config.yaml`` and
``last.pt``, so ``--resume`` keeps it (the budget is not applied again).

The trainer measures and follows the plan; the functions here only plan, from the recipe
asked for (``TrainConfig``) and the first epoch's costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yolox_ros.errors import ConfigError
from yolox_ros.training.config import RunPlan, TrainConfig

MIN_BUDGET_EPOCHS = 2  # the shortest run a budget plans: anything less is refused
BUDGET_MARGIN = 1.05  # on each later epoch: multiscale sizes and the no-aug tail vary them
EXPORT_RESERVE_S = 10.0  # the ONNX export and curves, on top of one evaluation (sample sheet)


class TimeBudgetError(ConfigError):
    """The time budget cannot hold the shortest run; the message says what it needs."""


@dataclass(frozen=True)
class EpochCosts:
    """Seconds the first epoch measured, which the plan extrapolates."""

    elapsed: float  # from the start of the set-up to the end of the first epoch
    epoch: float  # one more epoch: its training and its checkpoint
    evaluation: float  # one evaluation (with its best.pt)
    restart: float = 0.0  # starting the data loader again for a new plan

    @property
    def finish(self) -> float:
        """The export, curves and sample sheet after the last epoch."""
        return self.evaluation + EXPORT_RESERVE_S


@dataclass(frozen=True)
class BudgetPlan(RunPlan):
    """A run plan a time budget made, with what it predicts."""

    evaluations: int  # after the first epoch
    end: float  # predicted seconds from the start of the set-up to the end of the export


def evaluation_due(epoch: int, epochs: int, no_aug_epochs: int, eval_interval: int) -> bool:
    """Whether (0-based) ``epoch`` of ``epochs`` evaluates: every ``eval_interval``, every
    epoch of the no-augmentation tail and the last."""
    return epoch >= epochs - max(no_aug_epochs, 1) or (epoch + 1) % eval_interval == 0


def evaluations_after_first(epochs: int, no_aug_epochs: int, eval_interval: int) -> int:
    """How many of epochs 2..``epochs`` evaluate (``evaluation_due``, counted in O(1))."""
    tail_start = max(epochs - max(no_aug_epochs, 1), 1)
    tail = max(epochs - tail_start, 0)
    # Before the tail, epochs e in [1, tail_start) with (e + 1) % interval == 0.
    return tail + tail_start // eval_interval - 1 // eval_interval


def budget_tails(config: TrainConfig, epochs: int) -> tuple[int, int]:
    """Warm-up and no-aug epochs of a run cut to ``epochs``: each keeps its length up to a
    quarter of the run, so that at least half of it is the cosine; an uncut run keeps both."""
    if epochs >= config.epochs:
        return config.warmup_epochs, config.no_aug_epochs
    quarter = epochs // 4
    return min(config.warmup_epochs, quarter), min(config.no_aug_epochs, quarter)


def budget_plan(config: TrainConfig, costs: EpochCosts, epochs: int) -> BudgetPlan:
    """The run of ``epochs`` in all, and when it would end, after the measured first epoch."""
    warmup, no_aug = budget_tails(config, epochs)
    evaluations = evaluations_after_first(epochs, no_aug, config.eval_interval)
    end = costs.elapsed + costs.finish
    if epochs > 1:
        end += (
            (costs.restart if epochs != config.epochs else 0.0)
            + (epochs - 1) * costs.epoch * BUDGET_MARGIN
            + evaluations * costs.evaluation
        )
    return BudgetPlan(epochs, warmup, no_aug, evaluations, end)


def plan_time_budget(config: TrainConfig, costs: EpochCosts) -> BudgetPlan:
    """The most epochs (up to ``config.epochs``) whose run ends within ``time_budget_s``.

    Raises ``TimeBudgetError``, naming the budget the shortest run needs, when not even
    that fits (nor when the first epoch alone ran past the budget).
    """
    budget = config.time_budget_s
    whole = budget_plan(config, costs, config.epochs)
    if whole.end <= budget:
        return whole
    # A cut run's end grows with its epochs: the plan is the last that fits.
    low, high = min(MIN_BUDGET_EPOCHS, config.epochs), config.epochs - 1
    shortest = budget_plan(config, costs, low)
    if low == config.epochs or shortest.end > budget:
        raise budget_refusal(config, costs, shortest)
    while low < high:
        middle = (low + high + 1) // 2
        if budget_plan(config, costs, middle).end <= budget:
            low = middle
        else:
            high = middle - 1
    return budget_plan(config, costs, low)


def budget_refusal(config: TrainConfig, costs: EpochCosts, shortest: BudgetPlan) -> TimeBudgetError:
    """The refusal of a budget that the ``shortest`` run, planned on ``costs``, overruns."""
    need = math.ceil(shortest.end)
    return TimeBudgetError(
        f"time budget {config.time_budget_s:g} s is too short: {shortest.epochs} epochs need "
        f"at least {need} s here, as the first epoch measured (an epoch's time is unknown "
        f"before one has run): it ended at {costs.elapsed:.0f} s, one more takes "
        f"{costs.epoch:.1f} s, an evaluation {costs.evaluation:.1f} s and the export about "
        f"{costs.finish:.0f} s; nothing was kept: pass --time-budget {need} or more"
    )


def first_epoch_refusal(
    config: TrainConfig, elapsed: float, step: int, steps: int, step_s: float
) -> TimeBudgetError:
    """The refusal of a budget spent ``elapsed`` seconds after the start of the set-up, at
    (0-based) ``step`` of the first epoch's ``steps``, with steps of ``step_s`` seconds."""
    epoch_s = step_s * steps
    first_end = elapsed + step_s * (steps - step - 1)
    shortest = min(MIN_BUDGET_EPOCHS, config.epochs)
    need = math.ceil(first_end + (shortest - 1) * epoch_s * BUDGET_MARGIN + EXPORT_RESERVE_S)
    return TimeBudgetError(
        f"time budget {config.time_budget_s:g} s is spent before the first epoch, which "
        f"measures an epoch's time, ended (step {step + 1} of {steps}): at "
        f"{step_s:.2f} s a step an epoch takes about {epoch_s:.0f} s, so {shortest} "
        f"epochs need at least about {need} s; nothing was kept: pass --time-budget "
        f"{need} or more"
    )


def describe_plan(config: TrainConfig, plan: BudgetPlan, costs: EpochCosts) -> str:
    """The log line of a plan: the epochs and tails, and why."""
    asked = (config.epochs, config.warmup_epochs, config.no_aug_epochs)
    tails = f"warm-up {plan.warmup_epochs}, no-aug {plan.no_aug_epochs}"
    if (plan.epochs, plan.warmup_epochs, plan.no_aug_epochs) == asked:
        what = f"all {plan.epochs} epochs fit ({tails})"
    else:
        what = (
            f"{plan.epochs} epochs, {tails} (asked {asked[0]} epochs, warm-up {asked[1]}, "
            f"no-aug {asked[2]}; a cut run keeps each tail within a quarter of it)"
        )
    more, evaluations = plan.epochs - 1, plan.evaluations
    return (
        f"time budget {config.time_budget_s:g} s: {what}: the first epoch, the measurement, "
        f"ended at {costs.elapsed:.0f} s; {more} more epoch{'s' * (more != 1)} of "
        f"{costs.epoch:.1f} s, {evaluations} evaluation{'s' * (evaluations != 1)} of "
        f"{costs.evaluation:.1f} s and the export should end the run at about {plan.end:.0f} s"
    )
