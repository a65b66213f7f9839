"""The flywheel: generate -> critique/revise -> judge -> curate -> train -> evaluate -> promote, N turns.

Every step writes to the store before the next reads, and each is idempotent (agents checkpoint their
graph, data sets and training runs are content-addressed, evaluation rows are reused), so a run that
dies is resumed by running the same command again. Turns already recorded in `iterations` are kept.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from docflywheel.agents.run import run_agents
from docflywheel.bootstrap import provide_model
from docflywheel.bootstrap.train import SIZES as BOOTSTRAP_SIZES
from docflywheel.config import Config
from docflywheel.errors import InputError, NothingToTrain
from docflywheel.eval.agreement import spearman
from docflywheel.eval.heldout import Evaluation, evaluate
from docflywheel.eval.scoring import jury_scores
from docflywheel.models import load_backend
from docflywheel.models.base import parse_spec
from docflywheel.records import Task, content_id
from docflywheel.store import Store
from docflywheel.tasks import extract_tasks
from docflywheel.training.curate import curate
from docflywheel.training.promote import compare, current_champion, model_row
from docflywheel.training.trainers import run_folder, train

STEPS = ("sft", "dpo")


@dataclass(frozen=True)
class IterationSummary:
    """One turn's headline figures, as stored in `iterations.metrics` and printed at the end of a run."""

    iteration: int
    champion: str
    challenger: str | None
    champion_score: float
    ci_low: float
    ci_high: float
    delta: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    promoted: bool = False
    datasets: dict[str, int] = field(default_factory=dict)
    training_loss: dict[str, float | None] = field(default_factory=dict)
    regressions: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, Any] | None = None
    teacher: dict[str, Any] | None = None  # {"model", "score", "used"}: a teacher serves only when it beats the champion
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Say = Callable[[str], None]


def run_flywheel(store: Store, config: Config, *, iterations: int | None = None, show_progress: bool = True,
                 say: Say | None = None) -> list[IterationSummary]:
    """Make sure turns 0..N are recorded (0 is the starting model's evaluation) and return their summaries."""
    say = say or Console(stderr=True).print
    settings = config.flywheel
    wanted = iterations or settings.iterations
    _ensure_tasks(store, config, say)
    test_tasks = store.tasks(split="test", limit=settings.test_tasks)
    done = {row["iteration"]: row for row in store.select("iterations", order_by="iteration")}
    if 0 not in done:
        student = _resolved(config.models.student, config, say)
        shown = str(parse_spec(student, config.models.cache_dir))  # without a URL's credentials
        say(f"[bold]turn 0[/]: evaluating the starting model {shown} on {len(test_tasks)} test tasks")
        started = time.perf_counter()
        evaluation = _evaluate(store, student, config, test_tasks, show_progress)
        interval = evaluation.interval(settings.confidence)
        summary = IterationSummary(0, shown, None, interval.value, interval.ci_low, interval.ci_high,
                                   seconds=time.perf_counter() - started)
        _record(store, summary, model_row(shown, "base"))
    for turn in range(1, wanted + 1):
        if turn in done:
            continue
        _turn(store, config, turn, test_tasks, show_progress, say)
    return [IterationSummary(**_metrics(row)) for row in store.select("iterations", order_by="iteration")
            if row["iteration"] <= wanted]


def _turn(store: Store, config: Config, turn: int, test_tasks: list[Any], show_progress: bool,
          say: Say) -> IterationSummary:
    settings = config.flywheel
    started = time.perf_counter()
    champion = current_champion(store)
    if champion is None:
        raise InputError(f"{store.path} has no champion recorded before turn {turn}: run `docflywheel run` again")
    defending = _evaluate(store, champion, config, test_tasks, show_progress)
    teacher, teacher_info = None, None
    if config.models.teacher:
        teacher, teacher_info = _useful_teacher(store, config, turn, defending, test_tasks, show_progress, say)
    window = _train_window(store, settings.train_tasks, turn)
    say(f"[bold]turn {turn}[/]: agents document {len(window)} train tasks with {champion}")
    # A turn samples with its own seed, so a turn that kept its champion still brings new data.
    turn_config = config.model_copy(update={"generation": config.generation.model_copy(
        update={"seed": config.generation.seed + turn})})
    run_agents(store, turn_config, split="train", model=champion, teacher=teacher, samples=settings.samples,
               iteration=turn, show_progress=show_progress, tasks=window, critique_top=settings.critique_top)
    sizes: dict[str, int] = {}
    datasets: dict[str, str] = {}
    for kind in ("sft", "dpo", "kd"):
        info = curate(store, kind, config.curation)
        sizes[kind] = info.row_count
        if info.id and info.row_count:
            datasets[kind] = info.id
    say(f"[bold]turn {turn}[/]: curated " + ", ".join(f"{k} {n} rows" for k, n in sizes.items()))
    model, losses = champion, {}
    root = Path(f"{store.path}.runs") / f"turn-{turn}"
    steps = (["distill"] if teacher and "kd" in datasets else []) + [s for s in settings.train if s in STEPS]
    for step in steps:
        dataset = datasets.get("kd" if step == "distill" else step)
        if dataset is None:
            say(f"[yellow]turn {turn}: no {step} data this turn, so no {step} training[/]")
            continue
        say(f"[bold]turn {turn}[/]: {step} on {model}")
        settings_of = getattr(config.training, step)
        teacher_of = teacher if step == "distill" else None
        try:
            result = train(store, step, dataset, model,
                           run_folder(root, step, dataset, model, settings_of, teacher_of), settings_of,
                           teacher=teacher_of, iteration=turn, show_progress=show_progress)
        except NothingToTrain as error:  # recorded as a failed run; the turn goes on with the model it has
            say(f"[yellow]turn {turn}: no {step} training: {error}[/]")
            continue
        model, losses[step] = result.spec, _final_loss(result.metrics)
    if model == champion:
        raise InputError(f"turn {turn} trained nothing: no data set had rows. Lower route.accept or "
                         f"curation thresholds, or raise flywheel.train_tasks / flywheel.samples")
    say(f"[bold]turn {turn}[/]: evaluating challenger {model} against champion on {len(test_tasks)} test tasks")
    challenger = _evaluate(store, model, config, test_tasks, show_progress)
    comparison = compare(challenger, defending, tolerance=settings.promote_tolerance, confidence=settings.confidence)
    winner = challenger if comparison.promoted else defending
    interval = winner.interval(settings.confidence)
    summary = IterationSummary(
        iteration=turn, champion=winner.model, challenger=model, champion_score=interval.value,
        ci_low=interval.ci_low, ci_high=interval.ci_high, delta=comparison.delta.value,
        delta_ci_low=comparison.delta.ci_low, delta_ci_high=comparison.delta.ci_high, promoted=comparison.promoted,
        datasets=sizes, training_loss=losses, regressions=comparison.regressions, agreement=_agreement(store),
        teacher=teacher_info, seconds=time.perf_counter() - started)
    _record(store, summary, model_row(winner.model, "champion"))
    verdict = "promoted" if comparison.promoted else "kept the champion"
    say(f"[bold]turn {turn}[/]: delta {comparison.delta.value:+.3f} "
        f"[{comparison.delta.ci_low:+.3f}, {comparison.delta.ci_high:+.3f}]: {verdict}")
    return summary


def _useful_teacher(store: Store, config: Config, turn: int, champion: Evaluation, test_tasks: list[Any],
                    show_progress: bool, say: Say) -> tuple[str | None, dict[str, Any]]:
    """The teacher, when its mean score on the test tasks beats the champion's; else None (no teacher samples, no KD).

    Distilling a teacher that writes worse documents than the student would teach the student to write worse.
    Its evaluation rows are stored like any model's, so later turns reuse them.
    """
    teacher = _resolved(config.models.teacher, config, say)  # type: ignore[arg-type]
    scored = _evaluate(store, teacher, config, test_tasks, show_progress)
    used = scored.mean > champion.mean
    say(f"[bold]turn {turn}[/]: teacher {scored.model} scores {scored.mean:.3f} on the test tasks, champion "
        f"{champion.mean:.3f}: " + ("it writes samples and is distilled" if used else
                                    "no teacher samples or distillation this turn (a teacher must beat the champion)"))
    return (teacher if used else None), {"model": scored.model, "score": scored.mean, "used": used}


def _train_window(store: Store, size: int | None, turn: int) -> list[Task]:
    """This turn's train tasks: the next `size` of the split (by id, wrapping round), so turns see new code."""
    tasks = store.tasks(split="train")
    if not tasks:
        raise InputError(f"no train tasks in {store.path}: add some with `docflywheel tasks add-package NAME`")
    if size is None or size >= len(tasks):
        return tasks
    ordered = sorted(tasks, key=lambda t: t.id)
    start = (turn - 1) * size % len(ordered)
    return (ordered + ordered)[start:start + size]


def _evaluate(store: Store, spec: str, config: Config, tasks: list[Any], show_progress: bool) -> Evaluation:
    backend = load_backend(spec, config.generation, config.models.cache_dir)
    try:
        return evaluate(store, backend, tasks, config.generation, samples=config.flywheel.eval_samples,
                        show_progress=show_progress)
    finally:
        backend.close()


def _record(store: Store, summary: IterationSummary, champion: dict[str, Any]) -> None:
    store.insert("models", [champion])
    store.insert("iterations", [{"id": content_id("iteration", summary.iteration, summary.champion,
                                                  summary.challenger),
                                 "iteration": summary.iteration, "champion_model_id": champion["id"],
                                 "metrics": summary.as_dict()}])


def _ensure_tasks(store: Store, config: Config, say: Say) -> None:
    if store.tasks(limit=1):
        return
    tasks = [task for package in config.tasks.packages for task in extract_tasks(package, config.tasks.kinds)]
    store.add_tasks(tasks)
    say(f"added {len(tasks)} tasks from {', '.join(config.tasks.packages)}")


def _resolved(spec: str, config: Config, say: Say | None = None) -> str:
    """A bootstrapped name ('tiny') as the hf:PATH it stands for, so stored model names are explicit.

    On the offline default the models are ours to make: a bootstrapped name not in the cache yet is
    copied from the package (tiny ships with it) or trained here (`docflywheel bootstrap --size NAME`).
    """
    parsed = parse_spec(spec, config.models.cache_dir)
    if spec in BOOTSTRAP_SIZES and not Path(parsed.model).exists():
        folder, how = provide_model(spec, Path(parsed.model), seed=config.bootstrap.seed,
                                    corpus_chars=config.bootstrap.corpus_chars)
        (say or print)(f"model '{spec}': {'copied the shipped' if how == 'shipped' else 'trained a'} "
                       f"bootstrapped model into {folder} (remake it with `docflywheel bootstrap --size {spec}`)")
    # An openai spec stays as given: its printed form drops the URL's credentials, which the backend needs.
    return spec if parsed.backend == "openai" else str(parsed)


def _final_loss(metrics: dict[str, Any]) -> float | None:
    loss = metrics.get("final_loss")
    return float(loss) if loss is not None else None


def _agreement(store: Store) -> dict[str, Any] | None:
    """Spearman of the jury score with people's labels, where at least 5 labelled generations exist."""
    labels = [r for r in store.select("human_labels", status="labelled") if r.get("score") is not None]
    by_generation: dict[str, list[float]] = {}
    for row in labels:
        by_generation.setdefault(row["generation_id"], []).append(float(row["score"]))
    scores = jury_scores(store, list(by_generation))
    shared = [g for g in by_generation if g in scores]
    if len(shared) < 5:
        return None
    human = [sum(by_generation[g]) / len(by_generation[g]) for g in shared]
    estimate = spearman([scores[g].score for g in shared], human)
    return {"labelled": len(shared), "spearman": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high}


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    metrics = row["metrics"]
    values = json.loads(metrics) if isinstance(metrics, str) else dict(metrics)
    return {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in values.items()}
