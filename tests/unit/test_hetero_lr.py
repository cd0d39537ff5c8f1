"""Tests for hetero logistic regression (``unseen.vertical.hetero_lr*`` and the ``hetero_lr`` component).

Every run goes through ``run_parties``: guest, host(s) and arbiter in threads, each message encoded and decoded
by the real codec and recorded as its receiver decoded it. One training on scikit-learn's breast-cancer set
(standardised; guest: label + 10 features, host: 20 features; 1024-bit key for speed) is shared by the tests of
accuracy, convergence and privacy. The arbiter gets a key pair the test also holds, so the test can decrypt
everything the arbiter received and check that none of it is a gradient.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from unseen.components import evaluation as evaluation_component
from unseen.components import hetero_lr as component
from unseen.crypto.paillier import PrivateKey, PublicKey, generate_keypair
from unseen.runtime.context import Context
from unseen.runtime.local import LocalFederation, LocalHub, LocalRun, RecordedMessage, run_parties
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.storage.models_store import ModelStore
from unseen.storage.tables import Table, TableStore
from unseen.transport import codec
from unseen.transport.codec import BigInts
from unseen.transport.proto import federation_pb2 as pb
from unseen.vertical.hetero_lr import (
    VALUE_FRAC_BITS,
    HeteroLRConfig,
    ScaledColumns,
    batch_positions,
    loss_changes,
    plan_batches,
)
from unseen.vertical.hetero_lr_arbiter import ArbiterFit, fit_arbiter
from unseen.vertical.hetero_lr_engine import ProcessPoolEngine, SerialEngine
from unseen.vertical.hetero_lr_guest import GuestFit, fit_guest, predict_guest, signed_labels
from unseen.vertical.hetero_lr_host import HostFit, fit_host, predict_host

FloatArray = npt.NDArray[np.float64]

KEY_BITS = 1024
GUEST = PartyRef(Role.GUEST, 9999)
HOST = PartyRef(Role.HOST, 10000)
HOST_2 = PartyRef(Role.HOST, 10002)
ARBITER = PartyRef(Role.ARBITER, 10001)
ALPHA = 0.01
LEARNING_RATE = 0.3


# --- data and the shared training -----------------------------------------------------------------------------


@dataclass
class Breast:
    x_guest: FloatArray
    x_host: FloatArray
    y: npt.NDArray[np.int64]

    @property
    def joined(self) -> FloatArray:
        return np.column_stack([self.x_guest, self.x_host])


@pytest.fixture(scope="module")
def breast() -> Breast:
    features, target = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(features)
    return Breast(x[:, :10], x[:, 10:], np.asarray(target, dtype=np.int64))


@dataclass
class Trained:
    data: Breast
    config: HeteroLRConfig
    run: LocalRun[Any]
    keys: tuple[PublicKey, PrivateKey]

    @property
    def guest(self) -> GuestFit:
        return cast(GuestFit, self.run.results[GUEST][0])

    @property
    def scores(self) -> FloatArray:
        return cast(FloatArray, self.run.results[GUEST][1])

    @property
    def host(self) -> HostFit:
        return cast(HostFit, self.run.results[HOST])

    @property
    def arbiter(self) -> ArbiterFit:
        return cast(ArbiterFit, self.run.results[ARBITER])


def train(
    guest_x: FloatArray,
    y: npt.ArrayLike,
    host_xs: dict[PartyRef, FloatArray],
    config: HeteroLRConfig,
    keys: tuple[PublicKey, PrivateKey] | None = None,
) -> LocalRun[Any]:
    """Train and then predict, every party through ``run_parties``."""

    def guest(ctx: Context) -> tuple[GuestFit, FloatArray]:
        fit = fit_guest(ctx.sub("train"), guest_x, y, config)
        return fit, predict_guest(ctx.sub("predict"), guest_x, fit.coef, fit.intercept)

    def host_program(x: FloatArray) -> Callable[[Context], HostFit]:
        def host(ctx: Context) -> HostFit:
            fit = fit_host(ctx.sub("train"), x, config)
            predict_host(ctx.sub("predict"), x, fit.coef)
            return fit

        return host

    def arbiter(ctx: Context) -> ArbiterFit:
        return fit_arbiter(ctx.sub("train"), config, keypair=keys)

    programs: dict[PartyRef, Callable[[Context], Any]] = {GUEST: guest, ARBITER: arbiter}
    programs.update({ref: host_program(x) for ref, x in host_xs.items()})
    return run_parties(programs, recv_timeout=60.0)


@pytest.fixture(scope="module")
def trained(breast: Breast) -> Trained:
    config = HeteroLRConfig(
        max_iter=100,
        learning_rate=LEARNING_RATE,
        alpha=ALPHA,
        tol=1e-3,
        optimizer="sgd",
        min_iter=1,
        n_iter_no_change=1,
        key_bits=KEY_BITS,
        random_seed=0,
    )
    keys = generate_keypair(KEY_BITS)
    run = train(breast.x_guest, breast.y, {HOST: breast.x_host}, config, keys)
    return Trained(breast, config, run, keys)


def plaintext_taylor_gd(
    x: FloatArray, y: npt.ArrayLike, iterations: int, lr: float, alpha: float
) -> tuple[list[FloatArray], list[float], list[FloatArray]]:
    """The same full-batch training in the clear: weights (intercept last), losses and gradient sums per step."""
    rows = x.shape[0]
    augmented = np.column_stack([x, np.ones(rows)])
    labels = signed_labels(y)
    penalised = np.r_[np.ones(x.shape[1]), 0.0]
    w = np.zeros(augmented.shape[1])
    weights, losses, sums = [], [], []
    for _ in range(iterations):
        u = augmented @ w
        d = 0.25 * u - 0.5 * labels
        weights.append(w.copy())
        losses.append(
            float(np.mean(math.log(2) - 0.5 * labels * u + 0.125 * u * u) + 0.5 * alpha * (penalised * w) @ w)
        )
        sums.append(augmented.T @ d)
        w = w - lr * (augmented.T @ d / rows + alpha * penalised * w)
    weights.append(w)
    return weights, losses, sums


# --- accuracy and convergence ------------------------------------------------------------------------------------


def test_auc_within_001_of_sklearn_with_the_same_l2(trained: Trained) -> None:
    data = trained.data
    # loss = mean log-loss + alpha/2 |w|^2  <=>  scikit-learn's |w|^2/2 + C sum log-loss with C = 1/(alpha n)
    reference = LogisticRegression(C=1.0 / (ALPHA * len(data.y)), max_iter=10_000).fit(data.joined, data.y)
    sklearn_auc = roc_auc_score(data.y, reference.decision_function(data.joined))
    federated_auc = roc_auc_score(data.y, trained.scores)
    assert federated_auc == pytest.approx(sklearn_auc, abs=0.01)
    assert federated_auc > 0.99


def test_the_federated_model_is_the_plaintext_taylor_model(trained: Trained) -> None:
    """The encryption changes nothing but rounding: weights and losses match the same training in the clear."""
    data, guest = trained.data, trained.guest
    weights, losses, _ = plaintext_taylor_gd(data.joined, data.y, guest.summary.n_iter, LEARNING_RATE, ALPHA)
    federated = np.r_[guest.coef, trained.host.coef, guest.intercept]
    expected = np.r_[weights[-1][:10], weights[-1][10:30], weights[-1][30]]
    np.testing.assert_allclose(federated, expected, atol=1e-4)
    np.testing.assert_allclose(guest.summary.loss_history, losses, atol=1e-6)
    expected_scores = 1 / (1 + np.exp(-(np.column_stack([data.joined, np.ones(len(data.y))]) @ weights[-1])))
    np.testing.assert_allclose(trained.scores, expected_scores, atol=1e-4)


def test_loss_decreases_and_training_stops_early(trained: Trained) -> None:
    history = trained.guest.summary.loss_history
    assert history[0] == pytest.approx(math.log(2), abs=1e-9)  # w = 0: every row's loss is log 2
    assert all(later < earlier for earlier, later in itertools.pairwise(history))
    assert trained.guest.summary.converged and trained.guest.summary.n_iter < trained.config.max_iter
    changes = loss_changes(history)  # relative: |loss_t-1 - loss_t| / loss_t
    assert changes[-1] < trained.config.tol <= min(changes[:-1])
    assert trained.host.summary.n_iter == trained.arbiter.summary.n_iter == trained.guest.summary.n_iter
    assert trained.arbiter.summary.loss_history == history
    logged = [p for p in trained.run.metrics[GUEST].points if p.name == "loss"]
    assert [p.step for p in logged] == list(range(len(history)))
    assert [p.value for p in logged] == history


# --- privacy ------------------------------------------------------------------------------------------------------


def _decoded(message: RecordedMessage) -> codec.Value:
    return codec.decode(message.header, message.body)


def _aligned_views(body: bytes, itemsize: int, dtype: str) -> list[npt.NDArray[Any]]:
    return [
        np.frombuffer(body, dtype=dtype, offset=shift, count=(len(body) - shift) // itemsize)
        for shift in range(itemsize)
        if len(body) - shift >= itemsize
    ]


def _json_numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list):
        return [n for item in value for n in _json_numbers(item)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _json_numbers(item)]
    return []


def assert_no_clear_values(recorded: list[RecordedMessage], host_x: FloatArray, labels: npt.ArrayLike) -> None:
    """No message carries a host feature value, nor the labels, in any form the codec can carry them."""
    cells64 = np.unique(host_x.astype("<f8").view("<u8"))
    cells32 = np.unique(host_x.astype("<f4").view("<u4"))
    cell_values = set(host_x.ravel().tolist())
    y = np.asarray(labels)
    label_patterns = [
        np.asarray(v, dtype=dt).tobytes()
        for v in (y, np.where(y == 1, 1, -1))
        for dt in ("<i8", "<i4", "<i2", "i1", "u1", "<f8", "<f4", "?")
    ]
    for message in recorded:
        body = bytes(message.body)
        where = f"{message.tag} {message.src} -> {message.dst}"
        for view in _aligned_views(body, 8, "<u8"):
            assert not np.isin(view, cells64).any(), f"a host feature value (float64) in {where}"
        for pattern in label_patterns:
            assert pattern not in body, f"the label vector in {where}"
        if message.header.kind == pb.BIGINT_VECTOR:
            continue  # ciphertexts are uniformly random bytes: a 4-byte pattern would match by chance
        for view in _aligned_views(body, 4, "<u4"):
            assert not np.isin(view, cells32).any(), f"a host feature value (float32) in {where}"
        value = _decoded(message)
        if isinstance(value, np.ndarray) and value.size >= 10:
            assert not set(np.unique(value).tolist()) <= {-1, 0, 1}, f"label-like values in {where}"
        if message.header.kind == pb.JSON:
            assert not cell_values.intersection(_json_numbers(value)), f"a host feature value (JSON) in {where}"
            assert len(json.dumps(value)) < 500, f"a large JSON payload in {where}"


def test_no_message_carries_host_features_or_labels(trained: Trained) -> None:
    assert_no_clear_values(trained.run.hub.recorded, trained.data.x_host, trained.data.y)


def test_the_privacy_scan_would_catch_a_leak(trained: Trained) -> None:
    """The scan's positive controls: a feature column, a label vector, one cell in JSON are each caught."""
    hub = LocalHub()
    leaks: list[codec.Value] = [
        np.ascontiguousarray(trained.data.x_host[5:40, 3]),
        trained.data.y.astype(np.int8),
        {"x": float(trained.data.x_host[7, 2])},
    ]
    for leak in leaks:
        LocalFederation(hub, HOST).send("leak", leak, GUEST)
        with pytest.raises(AssertionError):
            assert_no_clear_values(hub.recorded[-1:], trained.data.x_host, trained.data.y)


def test_partial_scores_travel_encrypted_during_training(trained: Trained) -> None:
    to_guest = [m for m in trained.run.hub.recorded if m.src == HOST and m.dst == GUEST]
    training = [m for m in to_guest if m.tag.startswith("train/")]
    assert {m.tag.rsplit("/", 1)[-1] for m in training} == {"enc_s", "loss"}
    assert all(m.header.kind == pb.BIGINT_VECTOR for m in training)
    # prediction is the documented exception: the host's partial scores X_h w_h, in clear, once
    prediction = [m for m in to_guest if m.tag.startswith("predict/")]
    assert len(prediction) == 1
    np.testing.assert_allclose(cast(FloatArray, _decoded(prediction[0])), trained.data.x_host @ trained.host.coef)


def test_what_the_host_receives(trained: Trained) -> None:
    """Ciphertexts, its own masked-gradient residues, the plan, the key, and a stop flag: no label, no d."""
    received = [m for m in trained.run.hub.recorded if m.dst == HOST]
    kinds = {m.tag.rsplit("/", 1)[-1]: m.header.kind for m in received}
    assert kinds == {
        "plan": pb.JSON,
        "public_key": pb.JSON,
        "enc_v": pb.BIGINT_VECTOR,
        "gradient": pb.BIGINT_VECTOR,
        "status": pb.JSON,
    }
    for message in received:
        if message.tag.endswith("/status"):
            assert _decoded(message) in ({"converged": False}, {"converged": True})  # not the loss


def _centered(residue: int, n: int) -> int:
    return residue if residue <= n // 2 else residue - n


def close_to_a_gradient(value: int, gradients: list[FloatArray]) -> bool:
    """Whether ``value``, read as signed fixed point at any scale up to 2**-256, is within 0.1% of a gradient."""
    if abs(value).bit_length() > 400:  # beyond 2**(256 + 144): no gradient of this data comes near, at any scale
        return False
    targets = np.concatenate(gradients)
    for frac in range(257):
        decoded = math.ldexp(float(value), -frac)
        if np.any(np.abs(decoded - targets) <= 1e-3 * np.abs(targets) + 2.0**-frac):
            return True
    return False


def test_the_arbiter_receives_only_ciphertexts_of_masked_values(trained: Trained) -> None:
    public_key, private_key = trained.keys
    n = int(public_key.n)
    to_arbiter = [m for m in trained.run.hub.recorded if m.dst == ARBITER]
    plans = [m for m in to_arbiter if m.header.kind != pb.BIGINT_VECTOR]
    assert [m.tag for m in plans] == ["train/plan"]
    assert set(cast(dict[str, Any], _decoded(plans[0]))) == {"protocol", "batches", "max_iter", "early_stop", "shuffle"}

    data, guest = trained.data, trained.guest
    _, _, sums = plaintext_taylor_gd(data.joined, data.y, guest.summary.n_iter, LEARNING_RATE, ALPHA)
    rows = len(data.y)
    gradients = [s for s in sums] + [s / rows for s in sums]  # the sums, and the means the parties step with
    gradient_messages = [m for m in to_arbiter if m.tag.endswith("/gradient")]
    assert len(gradient_messages) == 2 * guest.summary.n_iter  # guest and host, one batch per epoch
    for message in gradient_messages:
        value = cast(BigInts, _decoded(message))
        assert all(0 < c < n * n for c in value)
        residues = private_key.raw_decrypt(value.to_list())
        for residue in residues:
            assert not close_to_a_gradient(_centered(int(residue), n), gradients), message.tag
    # the check itself works: a true gradient sum at this protocol's scale is caught
    assert close_to_a_gradient(round(sums[3][4] * 2.0 ** (VALUE_FRAC_BITS + 16)), gradients)


def test_the_arbiter_decrypts_the_mean_loss_and_nothing_else_in_clear(trained: Trained) -> None:
    reports = [m for m in trained.run.hub.recorded if m.dst == ARBITER and m.tag.endswith("/loss")]
    assert len(reports) == trained.guest.summary.n_iter
    assert all(len(cast(BigInts, _decoded(m))) == 1 for m in reports)


def test_each_partys_result_holds_only_its_own_coefficients(trained: Trained) -> None:
    assert trained.guest.coef.shape == (10,)
    assert trained.host.coef.shape == (20,)
    assert not hasattr(trained.arbiter, "coef")


# --- more hosts, mini-batches, early stop on the weights ----------------------------------------------------------


def test_two_hosts_mini_batches_and_weight_diff_stop() -> None:
    """Three column blocks, shuffled mini-batches: the same model as plaintext mini-batch GD in the same order."""
    x, y = make_classification(n_samples=400, n_features=9, n_informative=6, random_state=3, class_sep=1.5)
    x = StandardScaler().fit_transform(x)
    blocks = {GUEST: x[:, :3], HOST: x[:, 3:6], HOST_2: x[:, 6:]}
    config = HeteroLRConfig(
        max_iter=30,
        batch_size=150,
        learning_rate=0.5,
        alpha=0.001,
        early_stop="weight_diff",
        tol=0.02,
        optimizer="sgd",
        min_iter=1,
        n_iter_no_change=1,
        key_bits=KEY_BITS,
        random_seed=11,
    )
    run = train(blocks[GUEST], y, {HOST: blocks[HOST], HOST_2: blocks[HOST_2]}, config)
    guest = cast(GuestFit, run.results[GUEST][0])
    assert guest.summary.converged and 1 < guest.summary.n_iter < config.max_iter

    # the same training in the clear: the guest's seeded batch order, rows cut into 400 // 150 = 2 batches
    augmented, labels = np.column_stack([x, np.ones(len(y))]), signed_labels(y)
    penalised = np.r_[np.ones(9), 0.0]
    rng, w = np.random.default_rng(11), np.zeros(10)
    for epoch in range(guest.summary.n_iter):
        start = w.copy()
        for batch in batch_positions(rng.permutation(len(y)).astype(np.int64), plan_batches(len(y), 150)):
            d = 0.25 * augmented[batch] @ w - 0.5 * labels[batch]
            w = w - config.learning_rate_at(epoch) * (augmented[batch].T @ d / len(batch) + 0.001 * penalised * w)
        assert (np.linalg.norm(w - start) < config.tol) == (epoch == guest.summary.n_iter - 1)
    host_1, host_2 = cast(HostFit, run.results[HOST]), cast(HostFit, run.results[HOST_2])
    np.testing.assert_allclose(np.r_[guest.coef, host_1.coef, host_2.coef, guest.intercept], w, atol=1e-4)
    assert roc_auc_score(y, run.results[GUEST][1]) > 0.9
    assert_no_clear_values(run.hub.recorded, np.column_stack([blocks[HOST], blocks[HOST_2]]), y)


def test_batches_no_larger_than_a_partys_features_are_refused(breast: Breast) -> None:
    config = HeteroLRConfig(batch_size=20, key_bits=KEY_BITS, max_iter=1)  # the host has 20 features
    with pytest.raises(ValueError, match="too small for the host's 20 columns"):
        train(breast.x_guest, breast.y, {HOST: breast.x_host}, config)


def test_labels_must_be_binary() -> None:
    np.testing.assert_array_equal(signed_labels([0, 1, 1]), [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(signed_labels([-1, 1]), [-1.0, 1.0])
    with pytest.raises(ValueError, match="binary"):
        signed_labels([0, 1, 2])


def test_mismatched_row_counts_are_refused(breast: Breast) -> None:
    config = HeteroLRConfig(key_bits=KEY_BITS, max_iter=1)
    with pytest.raises(Exception, match="rows"):
        train(breast.x_guest, breast.y, {HOST: breast.x_host[:-1]}, config)


# --- pieces --------------------------------------------------------------------------------------------------------


def test_learning_rate_schedules() -> None:
    base = {"learning_rate": 0.4, "lr_decay": 0.5, "lr_step": 3}
    assert HeteroLRConfig(**base).learning_rate_at(4) == pytest.approx(0.4 / 3)  # type: ignore[arg-type]
    assert HeteroLRConfig(lr_schedule="inverse_sqrt", **base).learning_rate_at(4) == pytest.approx(0.4 / math.sqrt(3))  # type: ignore[arg-type]
    stepped = HeteroLRConfig(lr_schedule="step", **base)  # type: ignore[arg-type]
    assert [stepped.learning_rate_at(t) for t in (0, 2, 3, 6)] == pytest.approx([0.4, 0.4, 0.4 / 1.5, 0.4 / 2])
    assert HeteroLRConfig(learning_rate=0.4).learning_rate_at(50) == 0.4


def test_columns_are_scaled_by_powers_of_two() -> None:
    x = np.array([[3.0, -0.01, 0.0], [-5.0, 0.02, 0.0]])
    scaled = ScaledColumns.of(x, 16)
    assert np.all(np.abs(scaled.scaled) < 1)
    np.testing.assert_array_equal(scaled.scaled * 2.0 ** np.array([3, -5, 0]), x)  # exact: powers of two
    assert scaled.frac_bits == (VALUE_FRAC_BITS + 16 - 3, VALUE_FRAC_BITS + 16 + 5, VALUE_FRAC_BITS + 16)
    with pytest.raises(ValueError, match="standardise"):
        ScaledColumns.of(np.array([[2.0**41]]), 16)


def test_the_process_pool_engine_agrees_with_the_serial_one() -> None:
    public_key, private_key = generate_keypair(KEY_BITS)
    rng = np.random.default_rng(0)
    values, x = rng.normal(size=4_500), rng.normal(size=(4_500, 3))
    engine = ProcessPoolEngine(2)
    try:
        enc = engine.encrypt(public_key, values, 32)
        np.testing.assert_allclose(private_key.decrypt(enc), values, atol=2.0**-32)
        pooled = engine.x_transpose_dot(x, enc, 16)
    finally:
        engine.close()
    serial = SerialEngine().x_transpose_dot(x, enc, 16)
    np.testing.assert_array_equal(private_key.decrypt(pooled), private_key.decrypt(serial))
    np.testing.assert_allclose(private_key.decrypt(pooled), x.T @ values, rtol=1e-4)


# --- the component -------------------------------------------------------------------------------------------------


def test_params_are_validated() -> None:
    assert component.HeteroLRParams().to_config() == HeteroLRConfig()
    for bad in ({"batch_size": 0}, {"key_bits": 512}, {"key_bits": 2049}, {"learning_rate": 0}, {"epochs": 3}):
        with pytest.raises(ValidationError):
            component.HeteroLRParams.model_validate(bad)


def test_component_end_to_end_with_stored_models_and_evaluation(breast: Breast, tmp_path: Path) -> None:
    """Tables in, models and predictions out, at each party's own storage; evaluation reads the predictions."""
    ids = np.array([f"patient-{i:05d}" for i in range(len(breast.y))])
    host_names = [f"h{j}" for j in range(20)]
    inputs = {
        GUEST: Table({"id": ids, "y": breast.y, **{f"g{j}": breast.x_guest[:, j] for j in range(10)}}, "id", "y"),
        HOST: Table({"id": ids, **{name: breast.x_host[:, j] for j, name in enumerate(host_names)}}, "id"),
    }
    params = component.HeteroLRParams(
        key_bits=KEY_BITS, batch_size=200, learning_rate=0.2, alpha=ALPHA, tol=1e-3, random_seed=5, workers=1
    )

    def program(ref: PartyRef) -> Callable[[Context], None]:
        def run(ctx: Context) -> None:
            root = tmp_path / str(ref.party_id)
            ctx.tables, ctx.models = TableStore(root / "tables"), ModelStore(root / "models")
            ctx.inputs = {"data": "psi_0.data"}
            if ref in inputs:
                ctx.tables.write(ctx.output_table_name("data", "psi_0"), inputs[ref])
            component.run(ctx, params)

        return run

    run = run_parties({ref: program(ref) for ref in (GUEST, HOST, ARBITER)}, recv_timeout=60.0)
    assert not any(b"patient-" in bytes(m.body) for m in run.hub.recorded), "a raw id crossed the wire"
    assert_no_clear_values([m for m in run.hub.recorded if not m.tag.startswith("predict/")], breast.x_host, breast.y)

    def model(ref: PartyRef) -> Any:
        return ModelStore(tmp_path / str(ref.party_id) / "models").load("local", "local", "model")

    guest_model, host_model, arbiter_model = model(GUEST), model(HOST), model(ARBITER)
    assert set(guest_model.arrays) == {"coef", "intercept"} and guest_model.arrays["coef"].shape == (10,)
    assert set(host_model.arrays) == {"coef"} and host_model.arrays["coef"].shape == (20,)
    assert arbiter_model.arrays == {}
    assert guest_model.meta["feature_names"] == [f"g{j}" for j in range(10)]
    assert host_model.meta["feature_names"] == host_names
    guest_files = b"".join(p.read_bytes() for p in (tmp_path / str(GUEST.party_id) / "models").rglob("*.*"))
    assert host_model.arrays["coef"].astype("<f8").tobytes() not in guest_files
    assert not any(name.encode() in guest_files for name in host_names)
    assert guest_model.meta["n_iter"] == host_model.meta["n_iter"] == arbiter_model.meta["n_iter"]
    logged = {p.name: p.value for p in run.metrics[GUEST].points if p.step is None}
    assert logged["epochs_run"] == guest_model.meta["n_iter"]
    assert logged["converged"] == (1.0 if guest_model.meta["converged"] else 0.0)
    assert guest_model.meta["loss_history"] == arbiter_model.meta["loss_history"]
    assert "coef" not in json.dumps(arbiter_model.meta)

    guest_tables = TableStore(tmp_path / str(GUEST.party_id) / "tables")
    predictions = guest_tables.read("job_local.local__predictions")
    assert set(predictions.columns) == {"id", "y", "predict_score"}
    assert (predictions.id_column, predictions.label_column) == ("id", "y")
    np.testing.assert_array_equal(predictions.ids, ids)
    sink = MemoryMetricSink()
    evaluation_ctx = Context(
        job_id="local",
        component="evaluation_0",
        me=GUEST,
        parties={Role.GUEST: [GUEST.party_id]},
        federation=LocalFederation(LocalHub(), GUEST),
        metrics=Metrics(sink),
        logger=logging.getLogger("test.evaluation"),
        tables=guest_tables,
        inputs={"data": "local.predictions"},
    )
    evaluation_component.run(evaluation_ctx, evaluation_component.EvaluationParams())
    auc = next(p.value for p in sink.points if p.name == "auc")
    assert auc == pytest.approx(roc_auc_score(breast.y, predictions["predict_score"]))
    assert cast(float, auc) > 0.99
