"""Review sentiment of the v1 ACI service `sentiment-aci` (model sentiment-bert:1).

The fine-tuned BERT was distilled into per-word weights so that the container needs no GPU
and no deep-learning stack.
"""

import json
import math
import os
import re

weights = None


def init():
    global weights
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR", "."), "word_weights.json")
    with open(path, encoding="utf-8") as f:
        weights = json.load(f)


def run(raw_data):
    texts = json.loads(raw_data)["texts"]
    results = []
    for text in texts:
        words = re.findall(r"[a-z']+", text.lower())
        z = sum(weights.get(w, 0.0) for w in words)
        positive = 1.0 / (1.0 + math.exp(-z))
        results.append({"label": "positive" if positive >= 0.5 else "negative", "score": positive})
    return results
