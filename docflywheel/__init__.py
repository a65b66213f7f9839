"""docflywheel: write documentation with LLM agents, judge it, and train on the results."""

import os

# With another process busy on a 2-core machine, OpenMP threads that spin while waiting made one
# generation 60x slower (14.2 s vs 0.24 s); passive waiting removes that. It must be set before torch
# loads, and a value the user chose wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
