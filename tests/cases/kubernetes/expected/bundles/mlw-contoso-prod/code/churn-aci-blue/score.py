"""Churn scoring script of the v1 ACI service `churn-aci` (model churn-model:3).

The model is a logistic regression exported as JSON (scaler statistics, weights, bias),
so scoring needs nothing beyond the standard library.
"""

import json
import logging
import math
import os

from features import FEATURES, parse_rows, standardize

model = None


def init():
    global model
    # AZUREML_MODEL_DIR is the registered model's folder (v1 single-model layout).
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.json")
    with open(path, encoding="utf-8") as f:
        model = json.load(f)
    if model["features"] != FEATURES:
        raise ValueError(f"model expects {model['features']}, scoring code sends {FEATURES}")
    logging.info("churn model %s:%s loaded", model["name"], model["version"])


def run(raw_data):
    probabilities = []
    for row in parse_rows(raw_data):
        x = standardize(row, model["means"], model["scales"])
        z = model["bias"] + sum(w * v for w, v in zip(model["weights"], x, strict=True))
        probabilities.append(1.0 / (1.0 + math.exp(-z)))
    return {"probabilities": probabilities}
