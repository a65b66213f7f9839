"""The `docflywheel` command: a thin typer layer over the library; each command calls one function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

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
    model: Annotated[Optional[str], typer.Option(help="model spec: tiny, hf:PATH, vllm:PATH or openai:URL#MODEL [default: models.student]")] = None,
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
    file: Annotated[Path, typer.Argument(help="a human-labelled file (or its folder), e.g. the crupi2025 CSV in shared/data/human")],
    format: Annotated[str, typer.Option("--format", help="crupi2025, haque2022 or shi2022")] = "crupi2025",
    judge: Annotated[str, typer.Option(help="default (the recommended judge for the format), learned, reference or constant")] = "default",
    folds: Annotated[int, typer.Option(min=2, help="cross-validation folds for a fitted judge")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the folds and the bootstrap")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """How far a judge agrees with people on a human-labelled file.

    Per criterion: Krippendorff's alpha (ordinal) against the rater median, quadratic-weighted kappa and
    Spearman, each with a 95% bootstrap interval. A fitted judge is scored out of fold only.
    """
    from docflywheel.eval.agreement import Bootstrap
    from docflywheel.eval.benchmark import agreement_report

    if not file.exists():
        raise FlywheelError(f"{file}: no such file or folder: give the path of a human-labelled file")
    report = agreement_report(file, format, judge, n_splits=folds, seed=seed, bootstrap=Bootstrap(seed=seed))
    if as_json:
        print(json.dumps(report))
        return
    table = Table("criterion", "alpha [95% CI]", "kappa", "Spearman", "n",
                  title=f"{report['judge']} judge vs the rater median: {file.name} ({report['fitted']})")
    for criterion, figures in report["criteria"].items():
        alpha = figures["alpha"]
        table.add_row(criterion, f"{alpha['value']:.3f} [{alpha['ci_low']:.3f}, {alpha['ci_high']:.3f}]",
                      f"{figures['kappa']['value']:.3f}", f"{figures['spearman']['value']:.3f}", str(alpha["n"]))
    console.print(table)


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
