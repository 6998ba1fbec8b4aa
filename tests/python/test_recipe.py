"""The recipe from Python: gradflow.fit takes the CLI's training keys with their defaults, builds
its trainer with the same function, and writes the same config.json; the same recipe on the same
data gives the same run, bit for bit, from either side."""
import json
import os
import subprocess

import numpy as np
import pytest

import gradflow as gf

CLI = os.environ.get("GRADFLOW_CLI", "gradflow")


def test_fit_takes_the_recipes_training_keys_with_the_clis_defaults():
    options = {o["key"]: o for o in gf.recipe_options()}
    assert {"data", "layers", "optimizer", "epochs", "schedule", "warmup", "clip_value"} <= set(options)
    fit_keys = [k for k, o in options.items() if o["fit"]]
    assert {"epochs", "batch_size", "schedule", "warmup", "schedule_epochs", "clip_norm", "clip_value", "early_stop",
            "freeze", "unfreeze_every", "stages", "unfrozen_lr_scale", "diagnostics_every", "seed"} <= set(fit_keys)
    for key in fit_keys:  # each documented with the CLI's default
        default = json.dumps(options[key]["default"])
        assert f"  {key}={default}: " in gf.fit.__doc__, key
    assert options["schedule"]["default"] == "cosine" and options["epochs"]["default"] == 0
    X, y = gf.data.spirals(100)
    net = gf.Sequential(2, [gf.nn.dense(8), gf.nn.relu(), gf.nn.dense(2), gf.nn.softmax()], seed=1)
    for key in ("data", "layers", "out", "epoch"):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{key}'"):
            gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2, **{key: 1})
    with pytest.raises(ValueError, match="'warmup' should be a whole number ≥ 0"):
        gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2, warmup=-1)
    with pytest.raises(ValueError, match="early_stop selects on the validation loss: pass X_val"):
        gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2, early_stop=3)
    # Batch and epochs left at 0 follow the data, as the CLI's: 200 rows → batch 32, 200 epochs.
    result = gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adam"), X, y, num_classes=2,
                    diagnostics_every=0)
    assert result["chosen"].startswith("batch 32 (of 200 rows), 200 epochs")
    assert len(result["history"]) == 200 and result["report"].config["batch_size"] == 32


def test_recipe_is_the_config_json_the_cli_writes(tmp_path):
    r = gf.recipe(optimizer="sgd", optimizer_options={"momentum": 0.5}, epochs=3)
    assert r["optimizer_options"] == {"dampening": 0.0, "momentum": 0.5, "nesterov": False, "weight_decay": 0.0}
    assert r["epochs"] == 3 and r["schedule"] == "cosine" and "out" not in r and r["version"] == 2
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        gf.recipe(epoch=3)
    with pytest.raises(ValueError, match="'out' is not part of a recipe"):
        gf.recipe(out="runs/x")
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        gf.recipe(optimizer="adamx")
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(gf.recipe(data="moons", layers="8:relu", epochs=2)))
    subprocess.run([CLI, "train", "--config", str(path), "--out", str(tmp_path / "run"), "--no-report"], check=True,
                   capture_output=True)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved == {**json.loads(path.read_text()), "report": False, "batch_size": saved["batch_size"]}


def test_the_same_recipe_is_the_same_run_from_the_cli_and_from_python(tmp_path):
    """One CSV, one recipe: the CLI's config.json and fit's agree on every key but the data's, and
    the runs agree bit for bit, epoch by epoch."""
    X, y = gf.data.moons(300, seed=5)
    csv = tmp_path / "moons.csv"
    with open(csv, "w") as f:
        f.write("x0,x1,label\n")
        for row, label in zip(X, y):
            f.write(f"{float(row[0])!r},{float(row[1])!r},{int(label)}\n")
    recipe = {"epochs": 4, "batch_size": 32, "schedule": "step:2:0.5", "warmup": 1, "clip_value": 0.5, "seed": 3,
              "early_stop": 0, "diagnostics_every": 0}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in recipe.items()]
    subprocess.run([CLI, "train", "--data", str(csv), "--test", "none", "--layers", "16:relu:bn,8:tanh", "--output",
                    "softmax", "--loss", "cross_entropy", "--optimizer", "adamw", "--lr", "0.01", "--out", str(tmp_path / "run"), *flags], check=True, capture_output=True)
    cli = json.loads((tmp_path / "run" / "config.json").read_text())
    net = gf.Sequential(2, gf.nn.mlp([16, 8], activation=["relu", "tanh"], batch_norm=[True, False]) +
                        [gf.nn.dense(2), gf.nn.softmax()], seed=3)
    result = gf.fit(net, gf.Loss("cross_entropy"), gf.make_optimizer("adamw", lr=0.01), X, y, num_classes=2,
                    **recipe)
    python = result["report"].config
    assert python["data"] == "arrays from Python (X [300, 2])"
    assert {k: v for k, v in python.items() if k != "data"} == {k: v for k, v in cli.items() if k != "data"}
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    cli_losses = [json.loads(line)["train_loss"] for line in lines]
    assert cli_losses == [e["train_loss"] for e in result["history"]]
    assert [json.loads(line)["lr"] for line in lines] == [e["lr"] for e in result["history"]]
