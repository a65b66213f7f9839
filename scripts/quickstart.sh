#!/usr/bin/env bash
# The main job on its offline default: install, then two turns of the whole flywheel on real tasks from
# the standard library: the shipped tiny model (student) writes documentation, the agents critique and
# revise it, the jury scores it, the best becomes SFT / DPO / KD data, the student is trained on it, and
# the challenger is promoted only when it beats the champion on held-out test tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
df=.venv/bin/docflywheel
$df init
$df run --iterations 2
$df status
