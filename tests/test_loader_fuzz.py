"""Mutated model files through `neurorave.Engine`, as a stranger's bad file would arrive.

The C++ fuzzer (scripts/fuzz_loader.sh, libFuzzer) mutates bytes under the sanitizers;
this one mutates what a byte fuzzer rarely reaches: the description's JSON values (numbers
turned huge, negative, zero or of the wrong type, lists emptied), and the tensors' values,
through the Python entry point users call. Every file must either load and play finite
samples, or be refused with one `ModelError`: one line naming the file, valid text, short.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import neurorave
import numpy as np
import pytest
from conftest import export_random

CASES = 3000
ODD_VALUES = [0, -1, 1, 2**31 - 1, 2**31, -2**31, 2**63, 1e39, -3e38, 1e-40, 3e38, 0.5,
              "x", None, [], {}, True, 65536, 65537, 4096, 8192, 1e6, -1e6]


def _split(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _join(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _places(node, path=()):
    """Every (path, value) in a JSON tree."""
    yield path, node
    children = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    for key, child in children:
        yield from _places(child, (*path, key))


def _set(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _mutated(header: dict, data: bytes, rng: np.random.Generator) -> bytes:
    header = json.loads(json.dumps(header))
    description = json.loads(header["__metadata__"]["neurorave"])
    kind = rng.integers(4)
    if kind < 2:   # one or a few values of the description
        places = [p for p, v in _places(description) if p and not isinstance(v, (dict, list))]
        for _ in range(1 + rng.integers(3)):
            path = places[rng.integers(len(places))]
            _set(description, path, ODD_VALUES[rng.integers(len(ODD_VALUES))])
    elif kind == 2:  # a tensor entry's shape or offsets
        name = sorted(k for k in header if k != "__metadata__")[rng.integers(len(header) - 1)]
        field = ["shape", "data_offsets", "dtype"][rng.integers(3)]
        entry = header[name][field]
        if isinstance(entry, list) and entry:
            entry[rng.integers(len(entry))] = ODD_VALUES[rng.integers(len(ODD_VALUES))]
        else:
            header[name][field] = ODD_VALUES[rng.integers(len(ODD_VALUES))]
    else:          # values in the data section: huge, tiny, NaN, Inf
        values = np.frombuffer(data, dtype="<f4").copy()
        spots = rng.integers(len(values), size=1 + rng.integers(8))
        values[spots] = rng.choice([np.nan, np.inf, -np.inf, 3e38, 1e7, 1e5, -1e3, 1e-45],
                                   size=len(spots))
        data = values.tobytes()
    header["__metadata__"]["neurorave"] = json.dumps(description)
    return _join(header, data)


def _check(path: Path, audio: np.ndarray) -> str:
    try:
        engine = neurorave.Engine(path)
    except neurorave.ModelError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message and len(message.encode()) <= 420, message
        return "refused"
    out = engine.process(audio[: 2 * engine.compression])
    assert np.isfinite(out).all(), f"{path} loaded and played non-finite samples"
    return "played"


@pytest.mark.parametrize("causal", [False, True], ids=["centred", "causal"])
def test_mutated_models_are_refused_in_one_line_or_play_finite(tmp_path, causal):
    seed = export_random(tmp_path, "tiny", causal=causal, seed=3).path
    header, data = _split(seed)
    rng = np.random.default_rng(11 + causal)
    audio = np.sin(np.arange(4096) * 0.05).astype(np.float32)
    outcomes = {"refused": 0, "played": 0}
    path = tmp_path / "mutated.nrv"
    for _ in range(CASES):
        path.write_bytes(_mutated(header, data, rng))
        outcomes[_check(path, audio)] += 1
    # Both sides are reached, or the mutations test nothing.
    assert outcomes["refused"] > CASES // 10 and outcomes["played"] > CASES // 40, outcomes
