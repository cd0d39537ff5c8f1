"""Encryption randomness made ahead while a party waits: the same ciphertexts' plaintexts, used once, per party."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from unseen.crypto.paillier import PrivateKey, PublicKey, decrypt, generate_keypair
from unseen.vertical.hetero_lr_engine import RANDOMIZER_CHUNK, RandomizerPool, SerialEngine


@pytest.fixture(scope="module")
def keys() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


def test_the_pool_makes_randomizers_only_while_waiting_and_up_to_its_target(keys: tuple[PublicKey, PrivateKey]) -> None:
    public_key, _ = keys
    pool = RandomizerPool(public_key, target=12)
    try:
        time.sleep(0.05)
        assert pool.made_ahead == 0  # nobody is waiting: the party's own work keeps the GIL
        with pool.waiting():
            deadline = time.monotonic() + 30
            while pool.made_ahead < 12 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert 12 <= pool.made_ahead < 12 + RANDOMIZER_CHUNK  # stops at the target
        taken = pool.take(20)  # 12 made ahead, 8 made now
        assert len(taken) == len(set(taken)) == 20  # each is fresh and used once
        assert pool.take(0) == []
    finally:
        pool.close()


def test_encryption_from_randomness_made_ahead_decrypts_to_the_values(keys: tuple[PublicKey, PrivateKey]) -> None:
    public_key, private_key = keys
    engine = SerialEngine()
    values = np.linspace(-3.0, 3.0, 40)
    with engine.ahead(public_key, 40):
        with engine.waiting():
            time.sleep(0.2)
        first = engine.encrypt(public_key, values, 32)
        second = engine.encrypt(public_key, values, 32)
    assert first.data != second.data  # fresh randomness each time
    for enc in (first, second):
        np.testing.assert_allclose(decrypt(private_key, enc), values, atol=2**-30)
    np.testing.assert_allclose(decrypt(private_key, engine.encrypt(public_key, values, 32)), values, atol=2**-30)


def test_one_engine_serves_several_parties_threads_each_from_its_own_pool(keys: tuple[PublicKey, PrivateKey]) -> None:
    public_key, private_key = keys
    engine = SerialEngine()
    results: dict[int, np.ndarray] = {}

    def party(index: int) -> None:
        values = np.full(10, float(index))
        with engine.ahead(PublicKey(int(public_key.n)), 10):
            key = PublicKey(int(public_key.n))
            with engine.waiting():
                time.sleep(0.1)
            results[index] = decrypt(private_key, engine.encrypt(key, values, 16))

    threads = [threading.Thread(target=party, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 1, 2]
    for index, decrypted in results.items():
        np.testing.assert_allclose(decrypted, np.full(10, float(index)))
