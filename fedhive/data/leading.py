"""A dataset view whose round draws hold only the batches a fixed-steps client update
takes (`client.steps`), each client still weighted by all its training samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fedhive.data.batches import Batches, Steps, packed
from fedhive.data.federated import ClientData, unchanged_draw


class LeadingSteps:
    """`dataset` whose `cohort_batches` are each client's first `steps` batches of the
    round (`DrawsLeading`); every other attribute is the dataset's. A client taking S
    steps cycles through its real batches, so the first min(S, its batches) are all it
    reads: the same batches, in the same order, as from its whole epoch, without
    gathering (and padding to the cohort's largest client) the ones it never takes."""

    def __init__(self, dataset: ClientData, steps: int, draw: Callable[[int, Sequence[int], int], Batches]):
        self.dataset, self.steps, self._draw = dataset, steps, draw

    def __getattr__(self, name: str):
        return getattr(self.dataset, name)

    def cohort_batches(self, round: int, client_ids: Sequence[int]) -> Batches:
        return self._draw(round, client_ids, self.steps)

    def cohort_steps(self, round: int, client_ids: Sequence[int]) -> Steps:
        """The leading batches, packed (never the dataset's own whole-epoch draw)."""
        return packed(self.cohort_batches(round, client_ids))

    def work(self, round: int, client_ids: Sequence[int]) -> list[int]:
        """Batches drawn per client: its own count, at most `steps`."""
        whole = getattr(self.dataset, "work")(round, client_ids)  # leading_steps checked it exists
        return [min(w, self.steps) for w in whole]


def leading_steps(dataset: ClientData, steps: int | None) -> ClientData:
    """`dataset` drawing only each client's first `steps` batches when it can
    (`DrawsLeading`, and reports its work); else `dataset` itself (whole epochs)."""
    draw = unchanged_draw(dataset, "leading_batches") if steps is not None else None
    if draw is None or not callable(getattr(dataset, "work", None)):
        return dataset
    assert steps is not None  # draw is None otherwise
    return LeadingSteps(dataset, steps, draw)
