"""``--time-budget``: the plan made on the first epoch, its tails, the refusal, and real runs."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from support.training_runs import tiny_config

from yolox_ros.errors import ConfigError
from yolox_ros.training import trainer as trainer_module  # its plan_time_budget is patched
from yolox_ros.training.config import RunPlan, TrainConfig
from yolox_ros.training.schedule import WarmCosineSchedule
from yolox_ros.training.time_budget import (
    BUDGET_MARGIN,
    MIN_BUDGET_EPOCHS,
    EpochCosts,
    TimeBudgetError,
    budget_plan,
    evaluation_due,
    evaluations_after_first,
    plan_time_budget,
)
from yolox_ros.training.trainer import Trainer, train

# The issue's run: epochs of 97 s, the default tails (5 and 15) and 300 epochs asked.
ISSUE_COSTS = EpochCosts(elapsed=100.0, epoch=97.0, evaluation=3.0, restart=2.0)


def _config(tmp_path: Path, budget: float, **overrides) -> TrainConfig:
    return TrainConfig(output=tmp_path, data="x", time_budget_s=budget, **overrides)


def _cosine_epochs(plan) -> int:
    return plan.epochs - plan.warmup_epochs - plan.no_aug_epochs


# --------------------------------------------------------------------------- the plan
@pytest.mark.parametrize("budget", [180.0, 200.0])
def test_a_budget_too_short_for_two_epochs_is_refused_with_the_minimum(tmp_path, budget):
    config = _config(tmp_path, budget)
    need = math.ceil(budget_plan(config, ISSUE_COSTS, MIN_BUDGET_EPOCHS).end)
    assert need > budget
    with pytest.raises(TimeBudgetError) as refused:
        plan_time_budget(config, ISSUE_COSTS)
    message = str(refused.value)
    assert "\n" not in message
    assert f"time budget {budget:g} s is too short: 2 epochs need at least {need} s" in message
    assert "the first epoch measured" in message and f"--time-budget {need} or more" in message
    # The minimum it names is enough.
    assert plan_time_budget(_config(tmp_path, need), ISSUE_COSTS).epochs == MIN_BUDGET_EPOCHS


def test_the_issues_240_s_plans_two_epochs_of_cosine_within_the_budget(tmp_path):
    config = _config(tmp_path, 240.0)
    plan = plan_time_budget(config, ISSUE_COSTS)
    assert (plan.epochs, plan.warmup_epochs, plan.no_aug_epochs) == (2, 0, 0)
    assert plan.end <= 240.0
    # Before: 21 epochs (5 + 15 + 1 of cosine), 2000 s.
    schedule = WarmCosineSchedule.from_epochs(0.01, 100, plan.epochs, 0, 0)
    lrs = [schedule.lr(i) for i in range(200)]
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(schedule.min_lr, rel=0.01)
    assert lrs == sorted(lrs, reverse=True)  # one cosine over both epochs


@pytest.mark.parametrize("epoch_s", [0.5, 3.0, 20.0, 97.0, 600.0])
def test_a_plan_is_the_longest_run_ending_within_the_budget(tmp_path, epoch_s):
    costs = EpochCosts(elapsed=epoch_s + 4.0, epoch=epoch_s, evaluation=epoch_s / 10, restart=1.0)
    for factor in (2.2, 2.5, 3, 4, 6, 9, 14, 25, 50, 120, 400):
        budget = costs.elapsed + factor * epoch_s + 15.0
        config = _config(tmp_path, budget)
        try:
            plan = plan_time_budget(config, costs)
        except TimeBudgetError:
            assert budget_plan(config, costs, MIN_BUDGET_EPOCHS).end > budget
            continue
        assert plan.end <= budget, (epoch_s, factor)
        # Without the planning margin, the run still ends within budget + one epoch.
        unmargined = plan.end - (plan.epochs - 1) * epoch_s * (BUDGET_MARGIN - 1)
        assert unmargined <= budget + epoch_s
        if plan.epochs < config.epochs:
            assert budget_plan(config, costs, plan.epochs + 1).end > budget  # the longest
            assert plan.warmup_epochs <= plan.epochs // 4
            assert plan.no_aug_epochs <= plan.epochs // 4
        assert _cosine_epochs(plan) >= plan.epochs / 2
        WarmCosineSchedule.from_epochs(  # a valid schedule over the new total
            0.01, 10, plan.epochs, plan.warmup_epochs, plan.no_aug_epochs
        )


def test_the_tails_shrink_to_a_quarter_of_a_cut_run_and_stay_when_it_is_not(tmp_path):
    costs = EpochCosts(elapsed=11.0, epoch=10.0, evaluation=1.0)
    plans = {b: plan_time_budget(_config(tmp_path, b), costs) for b in (60, 120, 500, 1000)}
    for plan in plans.values():  # asked: 300 epochs, warm-up 5, no-aug 15
        quarter = plan.epochs // 4
        assert plan.epochs < 300
        assert (plan.warmup_epochs, plan.no_aug_epochs) == (min(5, quarter), min(15, quarter))
    assert plans[60].warmup_epochs < 5 and plans[60].no_aug_epochs < 15  # both shrink
    assert plans[500].warmup_epochs == 5 and plans[500].no_aug_epochs < 15  # the longer one
    assert (plans[1000].warmup_epochs, plans[1000].no_aug_epochs) == (5, 15)  # both fit
    # All fit: the run is not cut.
    plan = plan_time_budget(_config(tmp_path, 1e5), costs)
    assert (plan.epochs, plan.warmup_epochs, plan.no_aug_epochs) == (300, 5, 15)
    # A budget never makes a run longer than asked, and short tails are kept as they are.
    small = _config(tmp_path, 1e5, epochs=30, warmup_epochs=1, no_aug_epochs=2)
    plan = plan_time_budget(small, costs)
    assert (plan.epochs, plan.warmup_epochs, plan.no_aug_epochs) == (30, 1, 2)
    cut = plan_time_budget(_config(tmp_path, 120.0, warmup_epochs=1, no_aug_epochs=2), costs)
    assert cut.epochs < 300 and (cut.warmup_epochs, cut.no_aug_epochs) == (1, 2)


def test_the_first_epoch_alone_past_the_budget_is_refused(tmp_path):
    costs = EpochCosts(elapsed=130.0, epoch=120.0, evaluation=5.0)
    with pytest.raises(TimeBudgetError, match=r"ended at 130 s.*--time-budget \d+ or more"):
        plan_time_budget(_config(tmp_path, 100.0), costs)


def test_the_evaluations_counted_are_the_ones_the_run_makes():
    for epochs in range(1, 40):
        for no_aug in range(0, epochs):
            for interval in (1, 2, 3, 5, 10, 50):
                due = sum(evaluation_due(e, epochs, no_aug, interval) for e in range(1, epochs))
                assert evaluations_after_first(epochs, no_aug, interval) == due


def test_evaluations_and_the_export_count_in_the_plan(tmp_path):
    cheap = EpochCosts(elapsed=11.0, epoch=10.0, evaluation=0.0)
    dear = EpochCosts(elapsed=11.0, epoch=10.0, evaluation=10.0)
    config = _config(tmp_path, 500.0, eval_interval=1)  # every epoch evaluates
    assert plan_time_budget(config, dear).epochs < plan_time_budget(config, cheap).epochs
    assert plan_time_budget(config, dear).end <= 500.0


@pytest.mark.parametrize("budget", [-1.0, math.nan, math.inf])
def test_a_budget_is_finite_seconds(tmp_path, budget):
    with pytest.raises(ConfigError, match="time_budget_s"):
        _config(tmp_path, budget)


def test_a_run_slower_than_its_plan_stops_before_overrunning_by_more_than_an_epoch(tmp_path):
    config = _config(tmp_path, 100.0)
    costs = EpochCosts(elapsed=20.0, epoch=10.0, evaluation=1.0)
    lines: list[str] = []
    trainer = SimpleNamespace(
        config=config,
        state=SimpleNamespace(plan=RunPlan(epochs=6, warmup_epochs=1, no_aug_epochs=1)),
        budget=(plan_time_budget(config, costs), costs),
        log=lines.append,
    )
    now = time.monotonic()
    trainer.start_time = now - 50.0  # on time: the budget, less the export, is not spent
    assert not Trainer._budget_spent(trainer, 3)
    trainer.start_time = now - 95.0  # behind: stop now and export, not after 2 more epochs
    assert Trainer._budget_spent(trainer, 3)
    assert lines and "stopping after epoch 4 of 6" in lines[0]
    assert not Trainer._budget_spent(trainer, 5)  # the last epoch: the run ends anyway
    trainer.budget = None  # no plan in this process (--resume): the plan stands
    assert not Trainer._budget_spent(trainer, 3)


# --------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def scenes_64(tmp_path_factory) -> Path:
    """Eight 64x64 synthetic scenes (COCO): six to train on, two to validate."""
    from yolox_ros.synthetic import write_dataset

    root = tmp_path_factory.mktemp("scenes64")
    write_dataset(root, count=8, seed=1, width=64, height=64)
    return root


def _budget_config(output: Path, scenes_64: Path, **overrides) -> TrainConfig:
    # 10 epochs asked, with tails; one input size, so that epochs cost alike.
    settings = dict(epochs=10, multiscale=(64, 64), eval_interval=10, time_budget_s=1e4)
    return tiny_config(output, scenes_64, **{**settings, **overrides})


@pytest.fixture
def three_epochs_fit(monkeypatch):
    """Set the budget, once the first epoch is measured, so that 3 epochs fit and 4 do not
    whatever this machine's speed; the plan itself is the trainer's."""
    plans = []

    def planned(config: TrainConfig, costs: EpochCosts):
        three, four = budget_plan(config, costs, 3), budget_plan(config, costs, 4)
        config.time_budget_s = three.end + 0.9 * (four.end - three.end)
        plans.append(plan_time_budget(config, costs))
        return plans[-1]

    monkeypatch.setattr(trainer_module, "plan_time_budget", planned)
    return plans


def _rows(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def test_a_budgeted_run_trains_its_plan_and_ends_within_the_budget(
    tmp_path: Path, scenes_64: Path, three_epochs_fit
):
    config = _budget_config(tmp_path, scenes_64)
    lines: list[str] = []
    started = time.monotonic()
    train(config, log=lines.append)
    wall = time.monotonic() - started
    (plan,) = three_epochs_fit
    assert (plan.epochs, plan.warmup_epochs, plan.no_aug_epochs) == (3, 0, 0)
    budget = config.time_budget_s
    assert plan.end <= budget
    said = [line for line in lines if line.startswith("time budget")]
    assert len(said) == 1 and "3 epochs, warm-up 0, no-aug 0 (asked 10 epochs" in said[0], lines
    rows = _rows(tmp_path)
    assert [row["epoch"] for row in rows] == [1, 2, 3]  # the plan, all of it
    assert "ap" in rows[0]  # the first epoch is evaluated: the plan needs its cost
    # Epochs 2 and 3 follow the schedule of the new total (3 batches an epoch): one cosine.
    schedule = WarmCosineSchedule.from_epochs(config.batch_lr, 3, 3, 0, 0)
    assert rows[1]["lr"] == pytest.approx(schedule.lr(5))
    assert rows[2]["lr"] == pytest.approx(schedule.lr(8))
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (saved["epochs"], saved["warmup_epochs"], saved["no_aug_epochs"]) == (3, 0, 0)
    assert config.plan == RunPlan(10, 1, 1)  # the plan is the run's: the recipe stays as asked
    assert (tmp_path / "model.onnx").is_file()
    # Not a timing test: a bound any machine meets, the plan fitting is the check.
    assert wall <= budget + max(row["seconds"] for row in rows) + 60.0


def test_a_resumed_budgeted_run_keeps_its_plan(tmp_path: Path, scenes_64: Path, three_epochs_fit):
    class StopRunError(Exception):
        pass

    def stop_after_second_epoch(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise StopRunError

    with pytest.raises(StopRunError):
        train(_budget_config(tmp_path / "resumed", scenes_64), log=stop_after_second_epoch)
    lines: list[str] = []
    # Resumed with the recipe as first asked (10 epochs, tails 1 and 1): the plan stands.
    train(_budget_config(tmp_path / "resumed", scenes_64, resume=True), log=lines.append)
    assert len(three_epochs_fit) == 1  # not planned again
    assert "resuming the run's plan: 3 epochs, warm-up 0, no-aug 0" in lines
    assert [row["epoch"] for row in _rows(tmp_path / "resumed")] == [1, 2, 3]
    # The same schedule as the straight run of that plan (same batches and learning rates).
    train(_budget_config(tmp_path / "straight", scenes_64), log=lambda line: None)
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    assert resumed["train_state"]["epochs"] == straight["train_state"]["epochs"] == 3
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, msg=key)


def test_a_real_run_the_budget_cannot_hold_is_refused_after_its_first_epoch(
    tmp_path: Path, scenes_64: Path, monkeypatch
):
    def too_short(config: TrainConfig, costs: EpochCosts):
        config.time_budget_s = budget_plan(config, costs, 2).end - 1.0
        return plan_time_budget(config, costs)

    monkeypatch.setattr(trainer_module, "plan_time_budget", too_short)
    output = tmp_path / "run"
    with pytest.raises(TimeBudgetError, match=r"2 epochs need at least (\d+) s.*nothing was kept"):
        train(_budget_config(output, scenes_64), log=lambda line: None)
    assert not output.exists()  # the measurement is not a run to resume


def test_a_budget_spent_within_the_first_epoch_stops_there(tmp_path: Path, scenes_64: Path):
    output = tmp_path / "run"
    lines: list[str] = []
    with pytest.raises(TimeBudgetError) as refused:
        train(_budget_config(output, scenes_64, time_budget_s=0.01), log=lines.append)
    message = str(refused.value)
    assert message.startswith("time budget 0.01 s is spent before the first epoch")
    assert "step 1 of 3" in message and "--time-budget" in message
    assert not any(line.startswith("epoch 1/") for line in lines)  # it did not finish it
    assert not output.exists()
