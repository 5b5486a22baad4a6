"""Run by tests/learn/test_distributed.py, alone or under torchrun: train a few steps of one
kind (``ep``, ``hssm`` or ``hel``, the first argument) and write the final parameters (rank 0)
to the JSON file given as the last argument."""

import json
import sys

import numpy as np
import torch

import glep
from glep.learn.catalog import load
from glep.learn.distributed import World

torch.set_num_threads(1)
if sys.argv[1] == "ep":
    from glep.learn.classify import train

    problem = glep.load_problem("systems/hopfield_digits.py")
    result = train(problem, load("digits").head(64, 8), rule="C-EP", epochs=1, batch=16,
                   lr="0.05", tol=1e-14, progress=False)
elif sys.argv[1] == "hel":
    import os

    from glep.learn.datasets import identification, load_data
    from glep.learn.train import train

    problem = glep.load_problem("systems/chain_identification.py")
    path = f"{sys.argv[-1]}.{os.environ.get('RANK', 0)}.npz"  # one file per rank
    np.savez(path, **identification(problem, trajectories=8, progress=False))
    run = train(problem, load_data(path, problem), rule="HEL", epochs=2, batch=8, lr=1e-2,
                progress=False)
    result = type("Result", (), {"theta": {"theta": run.theta}})
else:
    from glep.learn.hssm import train

    problem = glep.load_problem("systems/hssm_linear.py", {"dtype": "float64", "hidden": 8,
                                                            "units": 6})
    result = train(problem, load("BasicMotions").head(16, 4), rule="RHEL", epochs=1, batch=8,
                   lr=1e-2, progress=False)
if World.current().main:
    with open(sys.argv[-1], "w", encoding="utf-8") as f:
        json.dump({"ranks": World.current().size,
                   **{k: np.asarray(v).tolist() for k, v in result.theta.items()}}, f)
