"""Feeds: the streaming feed's first pass doubles as the scaler sample, epochs are seeded and chunk-independent."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sagemaker.amazon.common import write_numpy_to_dense_tensor

from linear_learner.data.streaming import ChannelStream
from linear_learner.errors import ClientError
from linear_learner.training.data_feed import InMemoryFeed, StreamingFeed


def _recordio(X, y) -> bytes:
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X, y)
    return buf.getvalue()


class CountingSource:
    """A pass = one in-memory 'pipe'; counts how many passes were opened."""

    def __init__(self, data: bytes) -> None:
        self.data, self.opened = data, 0

    def __call__(self):
        self.opened += 1
        yield f"pipe 'train_{self.opened - 1}'", io.BytesIO(self.data)


def _feed(data: bytes, chunk: int):
    source = CountingSource(data)
    stream = ChannelStream(
        "train", "application/x-recordio-protobuf", source, "binary_classifier", None, chunk_bytes=chunk
    )
    feed = StreamingFeed(stream, seed=5, shuffle_buffer_bytes=4096)
    return feed, source


def _prepare(X, y):
    return X * 2, y, np.ones((len(y), 1), np.float32)


def test_prime_then_epochs_reuse_the_first_pass_and_are_chunk_independent():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 3)).astype(np.float32)
    y = (rng.random(700) > 0.5).astype(np.float32)
    data = _recordio(X, y)
    runs = []
    for chunk in (500, 1 << 20):
        feed, source = _feed(data, chunk)
        sample = feed.prime(50)
        np.testing.assert_array_equal(sample.X, X[:50])
        feed.configure(_prepare)
        epochs = [[(xb.copy(), yb.copy()) for xb, yb, _ in feed.batches(e, 64)] for e in range(2)]
        assert source.opened == 2  # the sample came from pass 0, which epoch 0 finished
        assert feed.n_rows == 700 and feed.complete
        np.testing.assert_array_equal(feed.labels, y)
        runs.append(epochs)
    for e in range(2):
        for (xa, ya), (xb, yb) in zip(runs[0][e], runs[1][e], strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    all0 = np.vstack([b[0] for b in runs[0][0]])
    assert sorted(map(tuple, (all0 / 2).tolist())) == sorted(map(tuple, X.tolist()))
    assert not np.array_equal(all0, np.vstack([b[0] for b in runs[0][1]]))  # each epoch its own order


def test_a_bad_record_mid_epoch_raises_from_the_prefetch_thread():
    X = np.ones((300, 2), np.float32)
    y = np.zeros(300, np.float32)
    data = bytearray(_recordio(X, y))
    data[-30:-26] = b"\0\0\0\0"
    feed, _ = _feed(bytes(data), 1000)
    feed.prime(10)
    feed.configure(_prepare)
    with pytest.raises(ClientError, match=r"pipe 'train_0'.*byte \d+"):
        for _ in feed.batches(0, 32):
            pass


def test_in_memory_feed_is_a_seeded_permutation():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.float32)
    feed = InMemoryFeed(X, y, np.ones((10, 1), np.float32), seed=1)
    a = np.concatenate([b[1] for b in feed.batches(0, 3)])
    assert sorted(a.tolist()) == y.tolist() and a.tolist() != y.tolist()
    assert np.array_equal(a, np.concatenate([b[1] for b in feed.batches(0, 4)]))
