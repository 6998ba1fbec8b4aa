"""gradflow: deep feed-forward networks trained on the CPU, with PyTorch's numerics.

The library itself (the C++ core, not the command line), with numpy arrays in and out:

    import gradflow as gf
    X, y = gf.data.spirals(500, seed=1)
    net = gf.Sequential(2, [gf.nn.dense(32), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=4)
    result = gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam", lr=0.01), X, y,
                    epochs=100, batch_size=32, num_classes=2)
    probabilities = net.predict(X)
    model = gf.load_model("runs/…/model.safetensors")  # a CLI run's model: every preprocessing step
    answers = model.predict(raw_X)                      # what `gradflow predict` prints

float32 C-contiguous arrays are read in place; anything else is converted once. Library errors
are Python exceptions (ValueError, RuntimeError) with the message the command line prints.
Training and prediction release the GIL. fit's result has a Report (the page `gradflow report`
draws, inline in Jupyter); run_study runs the lecture's studies. gradflow.sklearn has
scikit-learn estimators.
"""
from . import _gradflow, nn
from ._gradflow import (Board, Loss, LayerSpec, MemoryLimitError, Model, Optimizer, Report, Sequential, StudyResult,
                        TrainingDiverged, blas_kernels, board, data, evaluate, layer_kinds, load_model, loss_kinds,
                        make_optimizer, model_from_bytes, model_from_onnx, model_to_bytes, model_to_onnx, num_threads,
                        optimizer_kinds, recipe, recipe_options, report, run_study, save_model, schedule_forms,
                        set_num_threads, studies)
from .live import LiveCurves as _LiveCurves

__version__ = _gradflow.__version__


def fit(model, loss, optimizer, X, y, *, live=False, on_epoch=None, **options):
    """gradflow.fit (the library's; its documentation follows) with live=True: the loss per
    epoch drawn in the notebook cell as training goes, at most once a second and once more at
    the end (one line per epoch outside a notebook)."""
    if not live:
        return _gradflow.fit(model, loss, optimizer, X, y, on_epoch=on_epoch, **options)
    curves = _LiveCurves(then=on_epoch)
    try:
        return _gradflow.fit(model, loss, optimizer, X, y, on_epoch=curves, **options)
    finally:
        curves.flush()


fit.__doc__ = (fit.__doc__ + "\n\nlive: bool = False — the loss curves drawn live in the notebook cell.\n\n"
               + _gradflow.fit.__doc__)

__all__ = ["Board", "Loss", "LayerSpec", "MemoryLimitError", "Model", "Optimizer", "Report", "Sequential",
           "StudyResult", "TrainingDiverged", "blas_kernels", "board", "data", "evaluate", "fit", "layer_kinds",
           "load_model", "loss_kinds", "make_optimizer", "model_from_bytes", "model_from_onnx", "model_to_bytes",
           "model_to_onnx", "nn", "num_threads", "optimizer_kinds", "recipe", "recipe_options", "report",
           "run_study", "save_model", "schedule_forms", "set_num_threads", "studies", "__version__"]
