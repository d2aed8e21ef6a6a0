"""A worker task for tests/test_processes.py: analyses batches as photoface's workers do, but
its process dies (as one does when a decoder crashes) on any photo named ``crash*``."""

import os
from pathlib import Path

from photoface.processes import analyse_batch


def analyse_or_die(batch):
    if any(Path(walked.path).name.startswith("crash") for walked, _ in batch):
        os._exit(139)  # what a segfault in a native decoder looks like to the pool
    return analyse_batch(batch)
