"""Run by tests/learn/test_distributed.py, alone or under torchrun: train a few steps and
write the final parameters (rank 0) to the JSON file given as the last argument."""

import json
import sys

import torch

import glep
from glep.learn.catalog import load
from glep.learn.classify import train

torch.set_num_threads(1)
problem = glep.load_problem("systems/hopfield_digits.py")
result = train(problem, load("digits").head(64, 8), rule="C-EP", epochs=1, batch=16,
               lr="0.05", tol=1e-14, progress=False)
if result.theta is not None:
    from glep.learn.distributed import World

    if World.current().main:
        with open(sys.argv[-1], "w", encoding="utf-8") as f:
            json.dump({"ranks": World.current().size,
                       **{k: v.tolist() for k, v in result.theta.items()}}, f)
