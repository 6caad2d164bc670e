"""Sparse count tables and the smoothed hierarchy of distributions built on them.

Per task ``k``, code position ``p`` (of the ``h*w`` grid, flattened) and code ``b``, from the
most specific level to the least:

* ``position_transition``: code ``a`` at ``p`` in frame ``t-1`` followed by ``b`` at ``p`` in ``t``;
* ``transition``: the same, pooled over positions (the position-independent backoff);
* ``first_frame``: ``b`` at ``p`` in an episode's first frame;
* ``position_unigram``: ``b`` at ``p`` in any frame;
* ``task_unigram``: ``b`` anywhere in the task's frames.

Each level interpolates its counts with the level below (:func:`smooth`), the last one with a
uniform distribution, so every code has a probability > 0 in every context.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from viper_countmodel.config import Config

#: The tables of the model, in the order they are saved.
TABLES = ("task_unigram", "position_unigram", "first_frame", "transition", "position_transition")
#: Pairs gathered before they are folded into the sorted counts (bounds the memory of a fit).
FLUSH_PAIRS = 1 << 22


class CountTable:
    """Counts of (context, code) pairs over ``num_contexts`` contexts and ``vocab`` codes, stored
    sparsely as sorted keys ``context * vocab + code`` with their counts (most pairs never occur)."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, num_contexts: int, vocab: int) -> None:
        self.keys = np.asarray(keys, np.int64)
        self.counts = np.asarray(counts, np.int64)
        self.num_contexts, self.vocab = int(num_contexts), int(vocab)
        contexts = self.keys // self.vocab
        self.totals = np.bincount(contexts, weights=self.counts, minlength=self.num_contexts)
        self.types = np.bincount(contexts, minlength=self.num_contexts).astype(np.float64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The counts of ``keys`` (0 for pairs never seen), as float64."""
        if not self.keys.size:
            return np.zeros(keys.shape)
        index = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[index] == keys, self.counts[index], 0).astype(np.float64)


def table_problem(keys: np.ndarray, counts: np.ndarray, num_contexts: int, vocab: int) -> str | None:
    """What is wrong with a table's arrays read from a file, or None."""
    size = num_contexts * vocab
    if not (np.issubdtype(keys.dtype, np.integer) and np.issubdtype(counts.dtype, np.integer)):
        return f"integer keys and counts expected, got {keys.dtype} and {counts.dtype}"
    if keys.ndim != 1 or keys.shape != counts.shape:
        return f"keys {keys.shape} and counts {counts.shape} must be 1-D of one length"
    if keys.size and (keys[0] < 0 or keys[-1] >= size or (np.diff(keys) <= 0).any()):
        return f"keys must be strictly increasing in [0, {size})"
    if counts.size and counts.min() < 1:
        return "counts must be positive"
    return None


class Counter:
    """Accumulates (context, code) pairs into a :class:`CountTable`."""

    def __init__(self, num_contexts: int, vocab: int) -> None:
        self.num_contexts, self.vocab = num_contexts, vocab
        self.keys, self.counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self.pending: list[np.ndarray] = []
        self.pending_size = 0

    def add(self, contexts: np.ndarray, codes: np.ndarray) -> None:
        self.pending.append((np.asarray(contexts, np.int64) * self.vocab + codes).ravel())
        self.pending_size += self.pending[-1].size
        if self.pending_size >= FLUSH_PAIRS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            new_keys, new_counts = np.unique(np.concatenate(self.pending), return_counts=True)
            keys, inverse = np.unique(np.concatenate([self.keys, new_keys]), return_inverse=True)
            self.counts = np.bincount(inverse, np.concatenate([self.counts, new_counts]), len(keys)).astype(np.int64)
            self.keys = keys
            self.pending, self.pending_size = [], 0

    def table(self) -> CountTable:
        self._flush()
        return CountTable(self.keys, self.counts, self.num_contexts, self.vocab)


def smooth(table: CountTable, contexts: np.ndarray, codes: np.ndarray, below: np.ndarray, config: Config) -> np.ndarray:
    """``p(code | context) = (count + beta * below) / (total + beta)`` elementwise, where
    ``below`` is the next level's probability of the same code and ``beta`` the mass this level
    hands it: ``strength * distinct codes seen after the context`` (Witten-Bell; at least one, so
    an unseen context returns ``below``) or ``strength * vocab`` (additive)."""
    if config.smoothing == "witten-bell":
        beta = config.strength * np.maximum(table.types[contexts], 1.0)
    else:
        beta = np.full(contexts.shape, config.strength * table.vocab)
    count = table.lookup(contexts * table.vocab + codes)
    return (count + beta * below) / (table.totals[contexts] + beta)


class TransitionTables:
    """The five count tables of a fitted model and the log-probabilities they give."""

    def __init__(self, tables: dict[str, CountTable], num_tasks: int, positions: int, vocab: int) -> None:
        self.tables, self.num_tasks, self.positions, self.vocab = tables, num_tasks, positions, vocab

    @staticmethod
    def contexts(num_tasks: int, positions: int, vocab: int) -> dict[str, int]:
        """How many contexts each table has."""
        return {
            "task_unigram": num_tasks,
            "position_unigram": num_tasks * positions,
            "first_frame": num_tasks * positions,
            "transition": num_tasks * vocab,
            "position_transition": num_tasks * positions * vocab,
        }

    @classmethod
    def count(
        cls, episodes: Iterable[tuple[np.ndarray, int]], num_tasks: int, positions: int, vocab: int
    ) -> TransitionTables:
        """Count ``(codes int[T, positions], task id)`` episodes (already validated)."""
        sizes = cls.contexts(num_tasks, positions, vocab)
        counters = {name: Counter(sizes[name], vocab) for name in TABLES}
        position = np.arange(positions, dtype=np.int64)
        for codes, task in episodes:
            codes = np.asarray(codes, np.int64)
            at = task * positions + position  # the (task, position) context of every column
            counters["task_unigram"].add(np.full(codes.shape, task), codes)
            counters["position_unigram"].add(np.broadcast_to(at, codes.shape), codes)
            counters["first_frame"].add(at, codes[0])
            counters["transition"].add(task * vocab + codes[:-1], codes[1:])
            counters["position_transition"].add(at * vocab + codes[:-1], codes[1:])
        return cls({name: c.table() for name, c in counters.items()}, num_tasks, positions, vocab)

    def log_prob(self, codes: np.ndarray, previous: np.ndarray | None, tasks: np.ndarray, config: Config) -> np.ndarray:
        """``float32[M]``: log p of each frame ``codes int[M, positions]`` after ``previous`` (the
        frame before it, or None for first frames), summed over positions, for ``tasks int[M]``."""
        t = self.tables
        codes = np.asarray(codes, np.int64)
        task = np.broadcast_to(np.asarray(tasks, np.int64)[:, None], codes.shape)
        at = task * self.positions + np.arange(self.positions)
        p_task = smooth(t["task_unigram"], task, codes, np.full(codes.shape, 1.0 / self.vocab), config)
        p_position = smooth(t["position_unigram"], at, codes, p_task, config)
        if previous is None:
            p = smooth(t["first_frame"], at, codes, p_position, config)
        else:
            previous = np.asarray(previous, np.int64)
            p_moves = smooth(t["transition"], task * self.vocab + previous, codes, p_task, config)
            below = config.backoff_weight * p_moves + (1.0 - config.backoff_weight) * p_position
            p = smooth(t["position_transition"], at * self.vocab + previous, codes, below, config)
        return np.log(p).sum(-1).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything :meth:`from_arrays` needs, as named int64 arrays (for an ``.npz``)."""
        out = {}
        for name in TABLES:
            out[f"{name}_keys"], out[f"{name}_counts"] = self.tables[name].keys, self.tables[name].counts
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], num_tasks: int, positions: int, vocab: int) -> TransitionTables:
        """Tables from :meth:`arrays`' output; ``ValueError`` says what does not fit the shape."""
        sizes = cls.contexts(num_tasks, positions, vocab)
        tables = {}
        for name in TABLES:
            if f"{name}_keys" not in arrays or f"{name}_counts" not in arrays:
                raise ValueError(f"no {name} table")
            keys, counts = arrays[f"{name}_keys"], arrays[f"{name}_counts"]
            if (problem := table_problem(keys, counts, sizes[name], vocab)) is not None:
                raise ValueError(f"{name}: {problem}")
            tables[name] = CountTable(keys, counts, sizes[name], vocab)
        return cls(tables, num_tasks, positions, vocab)
