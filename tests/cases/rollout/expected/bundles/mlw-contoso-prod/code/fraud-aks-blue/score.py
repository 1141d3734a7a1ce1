"""Card-fraud scoring of the v1 AKS service `fraud-aks` (model fraud-gbm:12).

A raw HTTP handler, so that bad input gets a 400 instead of the server's 500. The model is
a small boosted ensemble of decision stumps exported as JSON.
"""

import json
import math
import os

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse

model = None


def init():
    global model
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "stumps.json"), encoding="utf-8") as f:
        model = json.load(f)


def fraud_probability(transaction):
    z = model["bias"]
    for stump in model["stumps"]:
        value = float(transaction[stump["feature"]])
        z += stump["right"] if value > stump["threshold"] else stump["left"]
    return 1.0 / (1.0 + math.exp(-z))


@rawhttp
def run(request):
    if request.method != "POST":
        return AMLResponse('POST {"transactions": [...]}', 405)
    try:
        transactions = json.loads(request.get_data(as_text=True))["transactions"]
        scores = [fraud_probability(t) for t in transactions]
    except (ValueError, KeyError, TypeError) as e:
        return AMLResponse(f"bad request: {e!r}", 400)
    return AMLResponse({"fraud_probability": scores}, 200, json_str=True)
