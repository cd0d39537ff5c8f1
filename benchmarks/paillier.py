"""Vectorised Paillier (unseen.crypto.paillier) against phe, the reference implementation, in one run.

One core, nothing parallel: both libraries run on gmpy2 in this process, one operation after another, timed in
CPU seconds of this process (best of 3), so that other work on a shared machine does not distort the figures.
Both sides use the same fixed-point precision (2**-32) so exponents and ciphertexts are the same size; phe's
plaintext factors are encoded before its clock starts (ours are encoded inside the timed call), and phe's
ciphertexts all share one exponent so its additions never re-scale. Every result is decrypted and checked.

    python benchmarks/paillier.py            # 2048-bit key, best of 3 runs per figure, ~25 s
    python benchmarks/paillier.py --quick    # smoke run, a few seconds

Prints a table and writes benchmarks/results/paillier.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gmpy2  # type: ignore[import-untyped]
import numpy as np
from phe import paillier as phe_paillier  # type: ignore[import-untyped]  # phe 1.5.0 ships no stubs
from phe.paillier import EncodedNumber, EncryptedNumber  # type: ignore[import-untyped]

from unseen.crypto.paillier import (
    DEFAULT_FRAC_BITS,
    SHORT_EXPONENT_BITS,
    EncryptedVector,
    generate_keypair,
    x_transpose_dot,
)

PRECISION = 2.0**-DEFAULT_FRAC_BITS
RESULTS = Path(__file__).resolve().parent / "results" / "paillier.json"


@dataclass
class Row:
    operation: str
    ours_per_s: float
    phe_per_s: float
    ours_count: int
    phe_count: int
    unit: str = "op"

    @property
    def ratio(self) -> float:
        return self.ours_per_s / self.phe_per_s


def as_phe(phe_pub: phe_paillier.PaillierPublicKey, enc: EncryptedVector) -> list[EncryptedNumber]:
    """Our ciphertexts as phe objects: same scheme, and 2**-32 fixed point is phe's exponent -8 (base 16).

    Saves minutes of phe encryptions that are not being measured, and exercises the interoperability.
    """
    exponent = -enc.frac_bits // 4
    return [EncryptedNumber(phe_pub, c, exponent) for c in enc.to_ints()]


def best_of(repeats: int, fn: Callable[[], Any], clock: Callable[[], float] = time.process_time) -> tuple[float, Any]:
    """Fastest of ``repeats`` runs (and its result), by default in CPU seconds of this process.

    Everything measured is single-threaded, so CPU time is the work done; unlike wall time it does not count
    the time other processes on a shared machine hold the core. The fastest run is the least disturbed one.
    """
    best, out = math.inf, None
    for _ in range(repeats):
        start = clock()
        out = fn()
        best = min(best, clock() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts and one repeat, for a smoke run")
    parser.add_argument("--bits", type=int, default=2048, help="modulus size (default 2048)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    rng = np.random.default_rng(2024)
    n_ours, n_dec, n_phe, repeats = (200, 50, 20, 1) if args.quick else (1000, 300, 100, 3)
    samples, features = (100, 15) if args.quick else (1000, 15)

    keygen_s, (pub, priv) = best_of(1, lambda: generate_keypair(args.bits))
    p, q = priv.primes
    phe_pub = phe_paillier.PaillierPublicKey(pub.to_wire())
    phe_priv = phe_paillier.PaillierPrivateKey(phe_pub, p, q)
    table_s, _ = best_of(1, lambda: pub.encrypt(np.zeros(1)))  # builds the fixed-base table (once per key)

    rows: list[Row] = []
    x = rng.uniform(-1.0, 1.0, n_ours)
    y = rng.uniform(-1.0, 1.0, n_ours)
    xs_phe = x[:n_phe].tolist()

    def compare(name: str, ours: Callable[[], Any], n: int, phe: Callable[[], Any], m: int) -> tuple[Any, Any]:
        t_ours, out_ours = best_of(repeats, ours)
        t_phe, out_phe = best_of(repeats, phe)
        rows.append(Row(name, n / t_ours, m / t_phe, n, m))
        return out_ours, out_phe

    enc_x, phe_x = compare(
        "encrypt",
        lambda: pub.encrypt(x),
        n_ours,
        lambda: [phe_pub.encrypt(v, precision=PRECISION) for v in xs_phe],
        n_phe,
    )
    enc_y = pub.encrypt(y)
    phe_x_all, phe_y_all = as_phe(phe_pub, enc_x), as_phe(phe_pub, enc_y)  # additions are cheap: same count

    dec, dec_phe = compare(
        "decrypt", lambda: priv.decrypt(enc_x[:n_dec]), n_dec, lambda: [phe_priv.decrypt(c) for c in phe_x], n_phe
    )
    assert np.allclose(dec, x[:n_dec], atol=1e-9) and np.allclose(dec_phe, xs_phe, atol=1e-9)

    total, total_phe = compare(
        "add (ct + ct)",
        lambda: enc_x + enc_y,
        n_ours,
        lambda: [a + b for a, b in zip(phe_x_all, phe_y_all, strict=True)],
        n_ours,
    )
    assert np.allclose(priv.decrypt(total[:20]), (x + y)[:20], atol=1e-9)
    assert np.allclose([phe_priv.decrypt(c) for c in total_phe[:5]], (x + y)[:5], atol=1e-9)

    # ciphertext * plaintext, one factor per element (half of them negative)
    factors = rng.uniform(-1.0, 1.0, n_ours)
    enc_factors = [EncodedNumber.encode(phe_pub, v, precision=PRECISION) for v in factors[:n_phe].tolist()]
    product, product_phe = compare(
        "scalar multiply",
        lambda: enc_x * factors,
        n_ours,
        lambda: [c * k for c, k in zip(phe_x, enc_factors, strict=True)],
        n_phe,
    )
    assert np.allclose(priv.decrypt(product[:20]), (x * factors)[:20], atol=1e-9)
    assert np.allclose([phe_priv.decrypt(c) for c in product_phe[:5]], (x * factors)[:5], atol=1e-9)

    # re-randomisation with full-length r (ours) vs phe's obfuscate(): the same textbook r**n
    n_rr = n_phe // 2
    compare(
        "rerandomize (full r^n)", enc_x[:n_rr].rerandomize, n_rr, lambda: [c.obfuscate() for c in phe_x[:n_rr]], n_rr
    )

    # gradient step X^T [[d]]
    d = rng.uniform(-1.0, 1.0, samples)
    big_x = rng.normal(0.0, 1.0, (samples, features))
    enc_d = pub.encrypt(d)
    phe_d = as_phe(phe_pub, enc_d)
    phe_big_x = [[EncodedNumber.encode(phe_pub, v, precision=PRECISION) for v in row] for row in big_x.tolist()]

    def phe_gradient() -> list[EncryptedNumber]:
        out = []
        for j in range(features):
            acc = phe_d[0] * phe_big_x[0][j]
            for i in range(1, samples):
                acc = acc + phe_d[i] * phe_big_x[i][j]
            out.append(acc)
        return out

    grad, grad_phe = compare(
        f"X^T[[d]] ({samples}x{features})", lambda: x_transpose_dot(big_x, enc_d), 1, phe_gradient, 1
    )
    rows[-1].unit = "step"
    expected = big_x.T @ d
    assert isinstance(grad, EncryptedVector)
    assert np.allclose(priv.decrypt(grad), expected, atol=1e-6)
    assert np.allclose([phe_priv.decrypt(c) for c in grad_phe], expected, atol=1e-6)
    t_rr, _ = best_of(repeats, grad.rerandomize)
    extra = {"rerandomize_gradient_s": t_rr}

    # outside the one-core comparison: decryption spread over threads (gmpy2 releases the GIL in powmod lists),
    # in wall-clock time since CPU time would add the threads up
    threads = os.cpu_count() or 1
    t_threads, _ = best_of(repeats, lambda: priv.decrypt(enc_x[:n_dec], workers=threads), time.perf_counter)
    extra[f"decrypt_per_s_{threads}_threads"] = n_dec / t_threads

    print_table(rows, args.bits, keygen_s, table_s, extra, features)
    write_json(args, rows, keygen_s, table_s, extra)


def print_table(
    rows: list[Row], bits: int, keygen_s: float, table_s: float, extra: dict[str, float], features: int
) -> None:
    print(f"\nPaillier, {bits}-bit n, one core; ours = unseen.crypto.paillier, phe = python-paillier 1.5.0")
    print(f"{'operation':<26}{'ours /s':>12}{'phe /s':>12}{'ours/phe':>10}   (counts ours/phe)")
    for row in rows:
        print(
            f"{row.operation:<26}{row.ours_per_s:>12,.1f}{row.phe_per_s:>12,.1f}{row.ratio:>9.1f}x"
            f"   ({row.ours_count}/{row.phe_count} {row.unit}s)"
        )
    print(
        f"one-time: keygen {keygen_s:.2f} s, fixed-base table {table_s * 1000:.0f} ms; "
        f"re-randomising the {features} gradient entries {extra['rerandomize_gradient_s'] * 1000:.0f} ms"
    )
    for key, value in extra.items():
        if key.startswith("decrypt_per_s_"):
            threads = key.removeprefix("decrypt_per_s_").replace("_", " ")
            print(f"not one core: decrypt with {threads}: {value:,.1f}/s")


def write_json(
    args: argparse.Namespace, rows: list[Row], keygen_s: float, table_s: float, extra: dict[str, float]
) -> None:
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "paillier",
        "quick": args.quick,
        "key_bits": args.bits,
        "short_exponent_bits": SHORT_EXPONENT_BITS,
        "frac_bits": DEFAULT_FRAC_BITS,
        "cores": 1,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "gmpy2": gmpy2.version(),
        "numpy": np.__version__,
        "one_time_s": {"keygen": keygen_s, "fixed_base_table": table_s},
        "extra": extra,
        "results": [{**asdict(row), "ratio": row.ratio} for row in rows],
        "goals": {
            "encrypt_ratio_min": 10.0,
            "x_transpose_dot_ratio_min": 3.0,
            "encrypt_met": rows[0].ratio >= 10.0,
            "x_transpose_dot_met": rows[-1].ratio >= 3.0,
        },
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
