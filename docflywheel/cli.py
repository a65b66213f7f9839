"""The `docflywheel` command: a thin typer layer over the library; each command calls one function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from docflywheel.config import Config, load_config
from docflywheel.errors import FlywheelError
from docflywheel.store import Store

app = typer.Typer(help="docflywheel: write docs with LLM agents, judge them, and train on the results.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
tasks_app = typer.Typer(help="Documentation tasks: extract, import, export, list.",
                        no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
agents_app = typer.Typer(help="The LangGraph agents: write, critique, revise, judge, route.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
labels_app = typer.Typer(help="Human labels: import them from CSV or JSONL.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")
console = Console(soft_wrap=True)


class State:
    config: Config
    debug: bool = False


state = State()


def _store() -> Store:
    return Store(state.config.store.path, busy_timeout_s=state.config.store.busy_timeout_s)


@app.callback()
def main_options(
    db: Annotated[Optional[Path], typer.Option(help="DuckDB store file [default: flywheel.duckdb]")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML config file; flags override it")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an error")] = False,
) -> None:
    """Global options, read before any command."""
    state.debug = debug
    state.config = load_config(config, {"store.path": str(db) if db else None})


@app.command()
def init() -> None:
    """Create or migrate the store and say its schema version."""
    before, after = _store().init()
    path = state.config.store.path
    if before == after:
        console.print(f"store {path} is at schema version {after} (up to date)")
    else:
        console.print(f"store {path} migrated from schema version {before} to {after}")


@app.command("config")
def show_config() -> None:
    """Print the effective config (defaults + YAML + flags)."""
    console.print(yaml.safe_dump(json.loads(state.config.model_dump_json()), sort_keys=False), end="")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """Rows per table in the store."""
    counts = _store().counts()
    if as_json:
        print(json.dumps(counts))
        return
    table = Table("table", "rows", title=str(state.config.store.path))
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


@tasks_app.command("add-package")
def tasks_add_package(
    name: Annotated[str, typer.Argument(help="an installed package or module, e.g. json or logging")],
    kinds: Annotated[str, typer.Option(help="comma-separated kinds to extract")] = "function,class,module",
    limit: Annotated[Optional[int], typer.Option(min=1, help="stop after this many tasks")] = None,
) -> None:
    """Extract tasks from an installed package's source.

    One task per public function, class (and public method) and module.
    """
    from docflywheel.tasks import extract_tasks

    found = extract_tasks(name, [k.strip() for k in kinds.split(",") if k.strip()], limit)
    added = _store().add_tasks(found)
    console.print(f"{name}: {len(found)} tasks found, {added} new, {len(found) - added} already stored")


@tasks_app.command("import")
def tasks_import(file: Annotated[Path, typer.Argument(help="JSONL file: one task object per line")]) -> None:
    """Store tasks from a JSONL file: all of them or none."""
    from docflywheel.tasks import read_jsonl

    found = read_jsonl(file)
    added = _store().add_tasks(found)
    console.print(f"{file}: {len(found)} tasks read, {added} new, {len(found) - added} already stored")


@tasks_app.command("export")
def tasks_export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write")],
    split: Annotated[Optional[str], typer.Option(help="only this split: train, dev or test")] = None,
) -> None:
    """Write stored tasks as JSONL, the format `tasks import` reads."""
    from docflywheel.tasks import write_jsonl

    count = write_jsonl(_store().tasks(split=split), file)
    console.print(f"wrote {count} tasks to {file}")


@tasks_app.command("list")
def tasks_list(as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """Count stored tasks by kind and split."""
    counts = _store().task_counts()
    if as_json:
        print(json.dumps([{"kind": k, "split": s, "count": n} for k, s, n in counts]))
        return
    table = Table("kind", "split", "tasks")
    for kind, split, count in counts:
        table.add_row(kind, split, str(count))
    table.add_row("all", "", str(sum(n for *_, n in counts)), style="bold")
    console.print(table)


@app.command()
def bootstrap(
    size: Annotated[str, typer.Option(help="micro, tiny (the default student) or small (the default teacher)")] = "tiny",
    seed: Annotated[Optional[int], typer.Option(help="random seed [default: bootstrap.seed in the config]")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="training steps [default: per size]")] = None,
    minutes: Annotated[Optional[float], typer.Option(min=0.1, help="stop after this much wall time")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder to save to [default: the cache folder/SIZE]")] = None,
    force: Annotated[bool, typer.Option(help="retrain even if the model is already saved")] = False,
) -> None:
    """Train a small Llama model from scratch, offline.

    Trains a byte-level BPE tokenizer and the model on documentation found on this machine
    (docstrings of the installed Python packages) and saves both with save_pretrained.
    """
    from docflywheel.bootstrap import bootstrap_model

    target = out or state.config.models.cache_dir / size
    if (target / "config.json").exists() and not force:
        console.print(f"model {size} already at {target} (use --force to retrain)")
        return
    result = bootstrap_model(size, target, seed=state.config.bootstrap.seed if seed is None else seed,
                             steps=steps, minutes=minutes, corpus_chars=state.config.bootstrap.corpus_chars)
    console.print(f"saved {result.size} model ({result.parameters / 1e6:.2f}M parameters, {result.steps} steps, "
                  f"{result.seconds / 60:.1f} min, train loss {result.train_loss:.3f}, "
                  f"validation loss {result.val_loss:.3f}) to {result.path}")


@app.command()
def generate(
    model: Annotated[Optional[str], typer.Option(help="model spec: tiny, hf:PATH, vllm:PATH or openai:URL#MODEL (its key from $OPENAI_API_KEY) [default: models.student]")] = None,
    tasks: Annotated[str, typer.Option(help="which split to document: train, dev, test or all")] = "train",
    n: Annotated[int, typer.Option(min=1, help="samples per task")] = 1,
    max_tasks: Annotated[Optional[int], typer.Option(min=1, help="document at most this many tasks")] = None,
    role: Annotated[str, typer.Option(help="student or teacher")] = "student",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Write docs for stored tasks with a model; resumable.

    Every generation is stored as soon as its batch finishes; a rerun skips what is stored.
    """
    from docflywheel.generate import generate as run_generate
    from docflywheel.models import load_backend

    cfg = state.config
    chosen = _store().tasks(split=None if tasks == "all" else tasks, limit=max_tasks)
    if not chosen:
        raise FlywheelError(f"no {tasks} tasks in {cfg.store.path}: add some with `docflywheel tasks add-package NAME`")
    backend = load_backend(model or cfg.models.student, cfg.generation, cfg.models.cache_dir)
    try:
        result = run_generate(_store(), backend, chosen, n, cfg.generation, role=role, show_progress=not as_json)
    finally:
        backend.close()
    summary = {"model": str(backend.spec), "tasks": len(chosen), **result.__dict__,
               "tokens_per_s": round(result.tokens_per_s, 1), "store": str(cfg.store.path)}
    if as_json:
        print(json.dumps(summary))
        return
    console.print(f"{result.written} generations written ({result.skipped} already there, {result.failed} failed) "
                  f"by {backend.spec} at {result.tokens_per_s:,.0f} tokens/s")
    console.print(f"they are in table `generations` of {cfg.store.path.resolve()}")


@agents_app.command("run")
def agents_run(
    max_tasks: Annotated[Optional[int], typer.Option(min=1, help="document at most this many tasks")] = None,
    split: Annotated[str, typer.Option(help="which split: train, dev, test or all")] = "train",
    model: Annotated[Optional[str], typer.Option(help="student model spec [default: models.student]")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="teacher model spec; one teacher sample per task")] = None,
    samples: Annotated[int, typer.Option(min=1, help="student samples per task (K)")] = 2,
    constitution: Annotated[Optional[Path], typer.Option(help="constitution YAML [default: agents/constitution.yaml]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Run the agents graph over stored tasks; resumes a killed run.

    Writes K samples per task, critiques each against a principle of the constitution, revises it,
    judges everything and routes it to curation, human review or rejection.
    """
    from docflywheel.agents.run import run_agents

    result = run_agents(_store(), state.config, split=split, max_tasks=max_tasks, model=model, teacher=teacher,
                        samples=samples, constitution_path=constitution, show_progress=not as_json)
    if as_json:
        print(json.dumps(result.__dict__))
        return
    table = Table("tasks", "generations", "critiques", "revisions", "judged", "accepted", "review", "rejected")
    table.add_row(*(str(v) for v in (result.tasks, result.generations, result.critiques, result.revisions,
                                     result.judged, *(result.routes.get(k, 0) for k in ("accepted", "review", "rejected")))))
    console.print(table)
    console.print(f"{'resumed and finished' if result.resumed else 'finished'} in {result.seconds:.0f} s; "
                  f"store {state.config.store.path}")


@app.command()
def agreement(
    file: Annotated[Path, typer.Argument(help="a human-labelled file (or its folder), e.g. the crupi2025 CSV in shared/data/human; for --format labels a store (.duckdb) or a labels CSV / JSONL about the --db store's generations")],
    format: Annotated[str, typer.Option("--format", help="crupi2025, haque2022, shi2022 (pointwise), autoj, hh-rlhf (pairwise) or labels (a store's human labels)")] = "crupi2025",
    judge: Annotated[str, typer.Option(help="default (the recommended judge for the format); pointwise: learned, reference, constant; autoj / hh-rlhf: learned, relevance, longer, tie; labels: jury, longer, constant")] = "default",
    folds: Annotated[int, typer.Option(min=2, help="cross-validation folds for a fitted judge")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the folds and the bootstrap")] = 0,
    limit: Annotated[Optional[int], typer.Option(min=2, help="autoj / hh-rlhf: judge only the first N pairs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """How far a judge agrees with people on a human-labelled file.

    Pointwise, per criterion: Krippendorff's alpha (ordinal) against the rater median, quadratic-weighted
    kappa and Spearman. Pairs: accuracy with and without ties, position consistency (both orders judged)
    and length bias. Each with a 95% bootstrap interval; a fitted judge is scored out of fold only.
    """
    from rich.progress import Progress

    from docflywheel.eval.agreement import Bootstrap
    from docflywheel.eval.benchmark import agreement_report

    if not file.exists():
        raise FlywheelError(f"{file}: no such file or folder: give the path of a human-labelled file")
    with Progress(console=Console(stderr=True), disable=as_json, transient=True) as bar:
        task = bar.add_task("judging", total=None)
        report = agreement_report(file, format, judge, n_splits=folds, seed=seed, bootstrap=Bootstrap(seed=seed),
                                  limit=limit, store=_store(),
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print(json.dumps(report))
        return
    if report.get("criteria"):
        table = Table("criterion", "alpha [95% CI]", "kappa", "Spearman", "n",
                      title=f"{report['judge']} judge vs the rater median: {file.name} ({report['fitted']})")
        for criterion, figures in report["criteria"].items():
            alpha = figures["alpha"]
            table.add_row(criterion, _interval(alpha), _value(figures["kappa"]), _value(figures["spearman"]),
                          str(alpha["n"]))
        console.print(table)
    if report.get("pairwise"):
        table = Table("criterion", "accuracy [95% CI]", "without ties", "position consistency", "length bias",
                      "people's length bias", "n",
                      title=f"{report['judge']} judge vs people's verdicts: {file.name} ({report['fitted']})")
        for criterion, f in report["pairwise"].items():
            if not f.get("n"):
                table.add_row(criterion, "no judged pairs", "", "", "", "", "0")
                continue
            consistency = _interval(f["position_consistency"]) + (" (symmetric judge)" if f["symmetric_judge"] else "")
            table.add_row(criterion, _interval(f["accuracy"]), _interval(f["accuracy_without_ties"]), consistency,
                          _interval(f["length_bias"]), _value(f["human_length_bias"]), str(f["n"]))
        console.print(table)
        for name, figures in report.get("baselines", {}).items():
            console.print(f"baseline {name}: accuracy {_value(figures['accuracy'])}, without ties "
                          f"{_value(figures['accuracy_without_ties'])}")
    if report.get("limit"):
        console.print(f"judged only the {report['limit']}")


def _value(estimate: dict[str, Any] | None) -> str:
    return "-" if not estimate or estimate["value"] is None else f"{estimate['value']:.3f}"


def _interval(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate["value"] is None:
        return "-"
    if estimate["ci_low"] is None:
        return _value(estimate)
    return f"{estimate['value']:.3f} [{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]"


@labels_app.command("import")
def labels_import(file: Annotated[Path, typer.Argument(help="CSV or JSONL file: one label per row")]) -> None:
    """Store human labels from a CSV or JSONL file: all of them or none.

    Pointwise rows: generation_id, criterion, score (1-5), annotator[, comment]. Pairwise rows:
    generation_id, generation_b_id, criterion, verdict (a, b or tie), annotator[, comment].
    Every generation must be in the store; importing the same file again stores nothing new.
    """
    from docflywheel.labels import import_labels

    result = import_labels(_store(), file)
    console.print(f"{file}: {result.read} labels read ({result.pointwise} pointwise, {result.pairwise} pairwise), "
                  f"{result.new} new, {result.read - result.new} already stored")


@app.command()
def curate(
    kind: Annotated[str, typer.Option(help="sft, dpo, kd or all")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Curate judged generations into frozen, versioned data sets (SFT rows, DPO pairs, KD rows).

    Train tasks only; drops tasks that are near copies of dev or test tasks' code, documents outside the
    length limits, and exact and near-duplicate documents. The same inputs give the same data set, stored once.
    Thresholds come from the `curation` section of the config.
    """
    from docflywheel.training.curate import curate as curate_kind
    from docflywheel.training.curate import curate_all

    settings = state.config.curation
    infos = curate_all(_store(), settings) if kind == "all" else [curate_kind(_store(), kind, settings)]
    if as_json:
        print(json.dumps([{"id": i.id, "name": i.name, "kind": i.kind, "version": i.version, "rows": i.row_count,
                           "status": i.status, "steps": i.filter["steps"]} for i in infos]))
        return
    table = Table("kind", "data set", "rows", "status", "id", title=str(state.config.store.path))
    for i in infos:
        table.add_row(i.kind, i.name or "-", str(i.row_count), i.status, i.id or "-")
    console.print(table)


@app.command("export")
def export_dataset(
    kind: Annotated[str, typer.Option(help="sft, dpo or kd")],
    format: Annotated[str, typer.Option("--format", help="jsonl, parquet or hf (Dataset.save_to_disk)")],
    out: Annotated[Path, typer.Option(help="folder to write the data set and its README.md card into")],
    dataset: Annotated[Optional[str], typer.Option(help="data set id [default: the latest of the kind]")] = None,
) -> None:
    """Write a curated data set in the format TRL reads unchanged, with a dataset card.

    SFT and KD rows are conversational `messages`; DPO rows are `prompt` / `chosen` / `rejected`.
    """
    from docflywheel.training.export import export

    folder = export(_store(), kind, format, out, dataset)
    console.print(f"wrote {kind} data set to {folder} ({format}); its card is {folder / 'README.md'}")


@app.command()
def train(
    kind: Annotated[str, typer.Argument(help="sft, dpo or distill")],
    dataset: Annotated[str, typer.Option(help="id of a stored data set (table datasets)")],
    base: Annotated[Optional[str], typer.Option(help="model spec to train: tiny, hf:PATH[#ADAPTER] [default: models.student]")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="teacher model spec, for distill [default: models.teacher]")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for checkpoints and the new model [default: the cache folder/runs/KIND-RUNID]")] = None,
    full: Annotated[bool, typer.Option("--full", help="fine-tune every weight instead of a LoRA adapter")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Train a model on a stored data set: SFT, DPO or distillation; resumes a killed run.

    LoRA by default (the new model is BASE#ADAPTER); the rest comes from the `training` section of the
    config. The same run asked again returns its recorded result without training.
    """
    from docflywheel.models import parse_spec
    from docflywheel.training.trainers import KINDS, run_folder, train

    cfg = state.config
    if kind not in KINDS:
        raise FlywheelError(f"unknown training kind '{kind}': choose {', '.join(KINDS)}")
    settings = getattr(cfg.training, kind)
    if full:
        settings = settings.model_copy(update={"full": True})
    spec = str(parse_spec(base or cfg.models.student, cfg.models.cache_dir))
    teacher_spec = None
    if kind == "distill":
        if not (teacher or cfg.models.teacher):
            raise FlywheelError("distill needs a teacher: pass --teacher SPEC or set models.teacher")
        teacher_spec = str(parse_spec(teacher or cfg.models.teacher, cfg.models.cache_dir))
    folder = out or run_folder(cfg.models.cache_dir / "runs", kind, dataset, spec, settings, teacher_spec)
    result = train(_store(), kind, dataset, spec, folder, settings, teacher=teacher_spec, show_progress=not as_json)
    if as_json:
        print(json.dumps({"run_id": result.run_id, "kind": result.kind, "spec": result.spec,
                          "artifact_path": str(result.artifact_path), "reused": result.reused, "metrics": result.metrics}))
        return
    figures = {k: v for k, v in result.metrics.items() if k not in ("curve",) and v is not None}
    table = Table("run", "kind", *figures, title=result.spec)
    table.add_row(result.run_id[:12], kind, *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in figures.values()))
    console.print(table)
    console.print(f"{'already trained: recorded' if result.reused else 'trained'} run {result.run_id} in "
                  f"{result.artifact_path}; the model is in table `models` as a challenger")


@app.command("run")
def run_loop(
    iterations: Annotated[Optional[int], typer.Option(min=1, help="turns of the loop [default: flywheel.iterations]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """The whole flywheel, N turns: agents -> curate -> train -> evaluate -> promote; resumes a killed run.

    Turn 0 scores the starting model on the test tasks; each turn then documents train tasks with the
    champion, curates SFT / DPO / KD sets, trains (distill where a teacher is set and scores above the
    champion on the test tasks, then SFT, then DPO),
    scores the challenger on the same test tasks and promotes it only when its gain has a bootstrap
    interval above zero and no jury member regresses. Turns already recorded are kept.
    """
    from docflywheel.training.loop import run_flywheel

    store = _store()
    store.init()
    summaries = run_flywheel(store, state.config, iterations=iterations, show_progress=not as_json)
    if as_json:
        print(json.dumps({"store": str(store.path), "iterations": [s.as_dict() for s in summaries]}))
        return
    table = Table("turn", "champion score [95% CI]", "delta [95% CI]", "promoted", "sft", "dpo", "kd",
                  "train loss", "teacher", "agreement", title="docflywheel run")
    for s in summaries:
        delta = "" if s.delta is None else f"{s.delta:+.3f} [{s.delta_ci_low:+.3f}, {s.delta_ci_high:+.3f}]"
        losses = ", ".join(f"{k} {v:.3f}" for k, v in s.training_loss.items() if v is not None)
        agree = f"rho {s.agreement['spearman']:.2f} (n={s.agreement['labelled']})" if s.agreement else "no labels"
        teacher = "" if not s.teacher else f"{s.teacher['score']:.3f}, {'used' if s.teacher['used'] else 'not used'}"
        table.add_row(str(s.iteration), f"{s.champion_score:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]", delta,
                      "yes" if s.promoted else "-", *(str(s.datasets.get(k, "")) for k in ("sft", "dpo", "kd")),
                      losses, teacher, agree)
    console.print(table)
    console.print(f"champion: {summaries[-1].champion}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="model spec to score: tiny, hf:PATH[#ADAPTER], openai:URL#NAME")],
    tasks: Annotated[Optional[int], typer.Option(min=2, help="test tasks to use [default: flywheel.test_tasks]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Score a model on the held-out test tasks with the recommended jury (eval/jury.yaml).

    Generates flywheel.eval_samples documents per test task, judges them, and prints the mean jury
    score with a bootstrap interval and each jury member's mean.
    """
    from docflywheel.eval.heldout import evaluate as evaluate_model
    from docflywheel.models import load_backend

    cfg = state.config
    store = _store()
    test = store.tasks(split="test", limit=tasks or cfg.flywheel.test_tasks)
    backend = load_backend(model, cfg.generation, cfg.models.cache_dir)
    try:
        result = evaluate_model(store, backend, test, cfg.generation, samples=cfg.flywheel.eval_samples,
                                show_progress=not as_json)
    finally:
        backend.close()
    interval = result.interval(cfg.flywheel.confidence)
    members = {m: sum(v.values()) / len(v) for m, v in sorted(result.members.items())}
    if as_json:
        print(json.dumps({"model": result.model, "tasks": len(result.scores), "generations": result.generations,
                          "unscored": result.unscored, "score": interval.value, "ci_low": interval.ci_low,
                          "ci_high": interval.ci_high, "members": members}))
        return
    table = Table("jury member", "mean (1-5)", title=f"{result.model} on {len(result.scores)} test tasks")
    for member, value in members.items():
        table.add_row(member, f"{value:.3f}")
    console.print(table)
    console.print(f"jury score {interval.value:.3f} [{interval.ci_low:.3f}, {interval.ci_high:.3f}] "
                  f"({result.generations} documents, {result.unscored} unscored)")


@app.command()
def serve(
    model: Annotated[Optional[str], typer.Option(help="model spec to serve [default: the store's champion, else models.student]")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one")] = 8000,
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 exposes it to the network")] = "127.0.0.1",
    print_command: Annotated[bool, typer.Option("--print-command", help="print the vLLM command instead of running it")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="seconds to wait for the server to answer")] = 300.0,
) -> None:
    """Serve the champion with vLLM's OpenAI-compatible server (base model plus its LoRA adapter).

    Waits until the server answers, prints its URL, the served model names and the openai: spec that
    generates through it, then runs until Ctrl-C.
    """
    import shlex

    from docflywheel.models.vllm_server import free_port
    from docflywheel.training import serve as serving

    store = _store()
    plan = serving.plan(store, state.config, model)
    port = port or free_port(host)
    if print_command:
        print(shlex.join(serving.command(plan, port=port, host=host)))
        return
    log = Path(f"{store.path}.runs") / "serve.log"
    server = serving.start(plan, log_path=log, port=port, host=host, timeout_s=timeout)
    try:
        console.print(f"serving {plan.spec} at {server.base_url}")
        console.print(f"models: {', '.join(server.models())}; log: {log}")
        console.print(f"generate through it with --model {plan.client_spec(server.base_url)}")
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def dashboard(
    db: Annotated[Optional[Path], typer.Option(help="DuckDB store file [default: the global --db]")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8501,
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 exposes it to the network")] = "127.0.0.1",
) -> None:
    """Serve the dashboard (Streamlit): review queue, judge agreement, flywheel runs, data sets.

    Labels are saved to the store as they are made; `docflywheel run` can write to the same store meanwhile.
    """
    import os

    from docflywheel.dashboard.launch import open_store, streamlit_command

    path = db or state.config.store.path
    open_store(path)  # a missing or outdated store is a one-line error here, not a page in the browser
    command = streamlit_command(path, host, port, state.config.store.busy_timeout_s)
    console.print(f"dashboard for {path} on http://{host}:{port} (Ctrl+C stops it)")
    sys.stdout.flush()
    os.execv(command[0], command)


def main() -> None:
    """Entry point: our errors become one line on stderr and exit code 2; --debug shows the traceback."""
    try:
        app(standalone_mode=False)
    except FlywheelError as error:
        if state.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # click's usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise


if __name__ == "__main__":
    main()
