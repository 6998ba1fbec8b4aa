"""Live curves for gradflow.fit(live=True) and the estimators' live=True: the loss per epoch
(training, and validation when there is one) redrawn in the notebook cell as epochs end — an SVG
updated in place through IPython's display handle, at most once a second and once more when the
fit ends; outside a notebook, one line per epoch. Nothing runs between epochs. Each redraw costs
the kernel ~2 ms and sets the notebook's frontend to work while the next epoch trains, which with
short epochs (0.15 s) slowed a fit by ~4% when every epoch was redrawn (bench/board_cost.py)."""
import html
import time

try:
    from IPython import get_ipython
    from IPython.display import HTML, display
except ImportError:  # pragma: no cover - IPython is a notebook's
    get_ipython = None


def _in_notebook():
    shell = get_ipython() if get_ipython else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class LiveCurves:
    """An on_epoch hook: records each epoch's losses and redraws them; calls `then` (the user's
    own on_epoch, if any) and returns what it returns."""

    WIDTH, HEIGHT = 480, 180
    EVERY = 1.0  # seconds between redraws in a notebook, at least

    def __init__(self, title="gradflow.fit", then=None):
        self.title, self.then = title, then
        self.epochs, self.train, self.val = [], [], []
        self.handle = display(HTML(self.svg()), display_id=True) if _in_notebook() else None
        self.drawn_at, self.pending = -float("inf"), False

    def __call__(self, epoch):
        self.epochs.append(epoch["epoch"])
        self.train.append(epoch["train_loss"])
        self.val.append(epoch.get("val_loss"))
        if self.handle is not None:
            self.pending = True
            if time.monotonic() - self.drawn_at >= self.EVERY:
                self.flush()
        else:
            val = f", validation loss {epoch['val_loss']:.4f}" if epoch.get("val_loss") is not None else ""
            print(f"{self.title}: epoch {epoch['epoch']}, loss {epoch['train_loss']:.4f}{val}", flush=True)
        return bool(self.then(epoch)) if self.then is not None else False

    def flush(self):
        """Draws the epochs not drawn yet (and the fit as it ends, however it ends)."""
        if self.handle is not None and self.pending:
            self.handle.update(HTML(self.svg()))
            self.drawn_at, self.pending = time.monotonic(), False

    def svg(self):
        w, h, pad = self.WIDTH, self.HEIGHT, 30
        values = [v for v in self.train + self.val if v is not None]
        if not values:
            return f"<div class='gradflow-live'>{html.escape(self.title)}: waiting for the first epoch…</div>"
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1
        n = max(len(self.epochs), 2)

        def line(series, colour, dash=""):
            points = " ".join(f"{pad + (w - 2 * pad) * i / (n - 1):.1f},{h - pad - (h - 2 * pad) * (v - lo) / (hi - lo):.1f}"
                              for i, v in enumerate(series) if v is not None)
            return f"<polyline fill='none' stroke='{colour}' stroke-width='2' {dash} points='{points}'/>"

        last = f"epoch {self.epochs[-1]}: loss {self.train[-1]:.4f}"
        if self.val[-1] is not None:
            last += f", validation {self.val[-1]:.4f}"
        return (f"<div class='gradflow-live'><b>{html.escape(self.title)}</b> — {last}<br>"
                f"<svg width='{w}' height='{h}' style='border:1px solid #eee'>"
                f"<text x='4' y='14' font-size='11'>{hi:.3g}</text><text x='4' y='{h - 4}' font-size='11'>{lo:.3g}</text>"
                + line(self.train, "#1f77b4") + line(self.val, "#2ca02c", "stroke-dasharray='2 3'") + "</svg></div>")
