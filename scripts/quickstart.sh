#!/usr/bin/env bash
# The main job on its offline default: install, make a store, take real tasks from an installed
# package, train the tiny model from scratch, and write documentation for the tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
df=.venv/bin/docflywheel
$df init
$df tasks add-package logging
$df tasks list
$df bootstrap --size tiny
$df generate --model tiny --tasks all
$df status
