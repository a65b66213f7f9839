"""The dashboard and a writing process on one store at once: no error on either side, nothing lost.

The writer is a second process writing judgments through Store.insert in small batches, as `docflywheel
run` does, until told to stop; meanwhile the dashboard renders pages and saves labels in this process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.dashboard.conftest import Flywheel, Pages

ROWS = 100
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from docflywheel.store import Store
    store, gid, stop = Store(sys.argv[1], busy_timeout_s=60), sys.argv[2], Path(sys.argv[3])
    batch = 0
    while not stop.exists() and batch < 2000:
        rows = [{{"id": f"w-{{batch}}-{{n}}", "generation_id": gid, "judge_kind": "rubric", "judge_model": "writer",
                 "judge_version": "1", "criterion": "fluency", "score": float(1 + n % 5), "status": "ok"}}
                for n in range({rows})]
        assert store.insert("judgments", rows) == {rows}
        batch += 1
        time.sleep(0.05)  # a run does model work between its writes
        if batch == 1:
            print("writing", flush=True)
    print("wrote", batch * {rows}, flush=True)
""").format(rows=ROWS)


def test_labels_and_judgments_all_land_while_both_write(flywheel: Flywheel, pages: Pages, tmp_path: Path) -> None:
    store, stop = flywheel.store, tmp_path / "stop"
    before = store.counts()["judgments"]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), flywheel.accepted, str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    saved: list[str] = []
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        for _ in range(3):
            app = pages.open(store, "review", annotator="ada")
            assert not app.exception, app.exception
            shown = app.selectbox(key="review_pick_0").format_func(0).rsplit("· ", 1)[-1]
            current = next(g["generation_id"] for g in store.review_items()[0] if g["generation_id"].startswith(shown))
            app.radio(key=f"score_{current}_fluency").set_value(3)
            next(b for b in app.button if b.label == "Save and next").click().run()
            assert not app.exception, app.exception
            saved.append(current)
            for name in ("agreement", "flywheel"):
                assert not pages.open(store, name).exception
        assert writer.poll() is None  # every label above was saved while the writer was writing
        stop.touch()
        out, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    written = int(out.split()[-1])
    assert written >= ROWS and store.counts()["judgments"] == before + written
    labels = store.labels_for(saved)
    assert sorted(labels) == sorted(saved) and all(len(rows) == 1 for rows in labels.values())
