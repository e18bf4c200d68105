"""Terminal progress for ``rank``: one tqdm bar per model's extraction, then one for the rank intervals, on stderr."""

from __future__ import annotations


class TerminalProgress:
    """A ``pipeline.Progress`` callback that draws tqdm bars (stderr, so stdout stays clean)."""

    def __init__(self):
        self._bar = None
        self._model_index = None

    def __enter__(self) -> "TerminalProgress":
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def pause(self) -> None:
        """Close the current bar, so a line printed now is not drawn over (the next callback opens a new one)."""
        self._close()
        self._model_index = None

    def __call__(self, stage: str, model_index: int, model_count: int, done: int, total: int, eta) -> None:
        from tqdm import tqdm

        if stage != "extract":
            return
        if model_index != self._model_index:
            self._close()
            self._model_index = model_index
            self._bar = tqdm(total=total, desc=f"model {model_index + 1}/{model_count}", unit="img", leave=False)
        self._bar.n = done
        self._bar.refresh()

    def intervals(self, done: int, total: int, eta) -> None:
        """A :data:`transfer_core.ranking.run.IntervalProgress` callback: the re-scorings of the rank intervals."""
        from tqdm import tqdm

        if self._model_index != "intervals":
            self._close()
            self._model_index = "intervals"
            self._bar = tqdm(total=total, desc="rank intervals", unit="re-scoring", leave=False)
        self._bar.n = done
        self._bar.refresh()
