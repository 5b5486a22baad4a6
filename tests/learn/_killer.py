"""Fault injection for tests/learn/test_crash_safety.py: run ``glep train`` in forked
children and SIGKILL each at a random moment of its training.

Forking from one process that has already imported glep and torch makes a trial cost its
training only (a fresh interpreter spends seconds importing); each child runs the command
line's own ``glep.cli.main(["train", ...])``. Usage: ``python _killer.py CONFIG.json``, where
the config holds ``trials``: ``[{"argv": [...], "out_dir": ..., "delay": seconds}]``; the
delay counts from the moment the run's first checkpoint exists (training has started).
Prints one JSON line per trial: ``{"out_dir", "delay", "killed", "status"}``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: 2-3 s)

from glep.cli import main


def trial(argv, checkpoint: Path, delay: float) -> dict:
    sys.stdout.flush()
    sys.stderr.flush()
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: glep train, its output to a file next to the run
        code = 99
        try:
            out = os.open(checkpoint.parent / "child.log",
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(out, 2)
            code = main(argv)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return {"killed": False, "status": "exited before its first checkpoint"}
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {"killed": killed,
            "status": "killed" if killed else f"exited {os.waitstatus_to_exitcode(status)}"}


if __name__ == "__main__":
    config = json.loads(Path(sys.argv[1]).read_text())
    for spec in config["trials"]:
        checkpoint = Path(spec["out_dir"]) / spec["checkpoint"]
        result = trial(spec["argv"], checkpoint, spec["delay"])
        print(json.dumps({"out_dir": spec["out_dir"], "delay": spec["delay"], **result}),
              flush=True)
