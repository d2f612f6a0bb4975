"""A per-epoch progress bar for the command line: tqdm when installed, else a plain one.

Either way the bar is drawn only when the stream is a terminal: a log file or a CI job
gets the per-epoch lines (``write``) and nothing else, never a smear of carriage
returns. ``FASTGD_NO_TQDM=1`` forces the plain bar (tests use it to exercise both).
"""
import os
import sys
import time

__all__ = ["EpochProgress", "progress", "is_tty"]


def is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


def _tqdm():
    if os.environ.get("FASTGD_NO_TQDM"):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class EpochProgress:
    """Plain bar ``desc [#####-----] 5/10 epochs  2.1s  postfix`` redrawn in place."""

    width = 24

    def __init__(self, total, stream=None, desc="training", enabled=None):
        self.total, self.n, self.desc = int(total), 0, desc
        self.stream = sys.stdout if stream is None else stream
        self.enabled = is_tty(self.stream) if enabled is None else bool(enabled)
        self.postfix = ""
        self._t0 = time.perf_counter()
        self._shown = 0       # length of the bar currently on screen
        self._draw()

    def _draw(self):
        if not self.enabled:
            return
        done = int(self.width * self.n / self.total) if self.total else self.width
        text = (f"{self.desc} [{'#' * done}{'-' * (self.width - done)}] {self.n}/{self.total}"
                f" epochs  {time.perf_counter() - self._t0:.1f}s  {self.postfix}").rstrip()
        pad = " " * max(0, self._shown - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = len(text)

    def _clear(self):
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def update(self, n=1, postfix=""):
        self.n += n
        self.postfix = postfix
        self._draw()

    def write(self, line):
        """Print a whole line above the bar (the bar is redrawn below it)."""
        self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()
        self._draw()

    def close(self):
        self._clear()
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _TqdmProgress:
    """The same interface over tqdm."""

    def __init__(self, tqdm, total, stream, desc, enabled):
        self._tqdm = tqdm
        self.stream = stream
        self.bar = tqdm(total=total, desc=desc, unit="epoch", file=stream, leave=False,
                        disable=not enabled)

    def update(self, n=1, postfix=""):
        if postfix:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(n)

    def write(self, line):
        self._tqdm.write(line, file=self.stream)

    def close(self):
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total, stream=None, desc="training", enabled=None):
    """A bar over ``total`` epochs on ``stream`` (default stdout); drawn only on a TTY
    unless ``enabled`` says otherwise."""
    stream = sys.stdout if stream is None else stream
    enabled = is_tty(stream) if enabled is None else bool(enabled)
    tqdm = _tqdm()
    if tqdm is not None:
        return _TqdmProgress(tqdm, total, stream, desc, enabled)
    return EpochProgress(total, stream, desc, enabled)
