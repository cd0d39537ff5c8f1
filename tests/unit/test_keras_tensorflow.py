"""Keras on TensorFlow (the ``tf`` extra): homo_nn's Keras models train through the same adapter.

Keras chooses its backend once per process and this test process runs Keras on torch, so the checks run in a
child process with ``KERAS_BACKEND=tensorflow``. Skipped where TensorFlow is not installed
(``pip install -e ".[tf]"``); CI installs the torch backend only.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed: pip install -e '.[tf]'"
)

CHILD = r"""
import numpy as np
from sklearn.datasets import load_digits

from unseen.components.homo_nn import HomoNNParams, build_model, initial_weights, make_strategy
from unseen.horizontal import keras as adapter
from unseen.horizontal.aggregator import FederatedConfig, run_aggregator
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.worker import run_worker
from unseen.runtime.local import run_parties
from unseen.runtime.parties import PartyRef, Role

assert adapter.backend_name() == "tensorflow", adapter.backend_name()

# FedAvg of the digits MLP over 3 workers, every message through the real codec
x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)
params = HomoNNParams.model_validate({"framework": "keras", "model": {"name": "mlp", "input_dim": 64, "hidden": [32]},
                                      "rounds": 15, "lr": 0.1, "seed": 0})
parts = np.array_split(np.random.default_rng(0).permutation(len(y)), 3)
arbiter, workers = PartyRef(Role.ARBITER, 1), [PartyRef(Role.GUEST, 2), PartyRef(Role.HOST, 3), PartyRef(Role.HOST, 4)]
start = initial_weights(params)
programs = {arbiter: lambda ctx: run_aggregator(ctx, make_strategy(params), start, FederatedConfig(rounds=15))}
for party, rows in zip(workers, parts):
    trainer = adapter.KerasTrainer(build_model(params), x[rows], y[rows], lr=0.1, seed=0)
    programs[party] = lambda ctx, t=trainer: run_worker(ctx, t)
weights = run_parties(programs, recv_timeout=120).results[arbiter].weights
accuracy = adapter.KerasTrainer(build_model(params), x, y).evaluate(weights).accuracy
assert accuracy > 0.9, accuracy

# ResNet-20 takes channel-major CIFAR images and convolves channels-last on TensorFlow, with the same weights
resnet = HomoNNParams.model_validate({"framework": "keras", "model": {"name": "resnet20"}, "seed": 0})
model = build_model(resnet)
from unseen.models.keras_resnet import build_resnet
reference = build_resnet("resnet20", data_format="channels_first")
assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in reference.weights]
images = np.random.default_rng(0).normal(size=(16, 3, 32, 32)).astype(np.float32)
labels = np.arange(16) % 10
trainer = adapter.KerasTrainer(model, images, labels, lr=0.01, seed=0)
fit = trainer.fit(adapter.get_weights(model), Instruction("fit", 0, local_epochs=1, batch_size=8))
assert np.isfinite(fit.loss) and trainer.predict(fit.weights, images).shape == (16, 10)
print("tensorflow ok", round(accuracy, 4))
"""


def _on_tensorflow(code: str, timeout: float) -> str:
    """``code`` in a child process whose Keras runs on TensorFlow; its standard output."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_homo_nn_keras_models_train_on_the_tensorflow_backend() -> None:
    assert "tensorflow ok" in _on_tensorflow(CHILD, 600)


THREADS_CHILD = r"""
import importlib.abc
import sys


class NoTorch(importlib.abc.MetaPathFinder):  # the tf extra installs no torch: any import of it fails here
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "torch":
            raise ImportError(f"{name} is not installed")
        return None


sys.meta_path.insert(0, NoTorch())

import tensorflow as tf

from unseen.components.homo_nn import HomoNNParams, limit_threads

params = HomoNNParams.model_validate({"framework": "keras", "model": {"name": "dlrm"},
                                      "loss": "binary_cross_entropy", "threads": 1})
limit_threads(params)
assert tf.config.threading.get_intra_op_parallelism_threads() == 1
assert "torch" not in sys.modules
print("threads ok")
"""


def test_homo_nn_threads_limit_tensorflow_without_torch() -> None:
    assert "threads ok" in _on_tensorflow(THREADS_CHILD, 300)
