"""Product recommendations of the v1 AKS service `recs-aks-token`.

Two registered models: recs-als (item factors of a matrix factorization) ranks items for a
user vector; recs-popularity fills the list for users without history.
"""

import json
import os

from azureml.core.model import Model

item_factors = None
popular_items = None


def init():
    global item_factors, popular_items
    # With two models AZUREML_MODEL_DIR is their common parent, so ask for each by name.
    als_dir = Model.get_model_path("recs-als")
    with open(os.path.join(als_dir, "item_factors.json"), encoding="utf-8") as f:
        item_factors = json.load(f)
    popularity_dir = Model.get_model_path("recs-popularity")
    with open(os.path.join(popularity_dir, "popular.json"), encoding="utf-8") as f:
        popular_items = json.load(f)


def run(raw_data):
    request = json.loads(raw_data)
    k = int(request.get("k", 5))
    user = request.get("user_vector")
    if not user:
        return {"items": popular_items[:k], "source": "popularity"}
    scores = {
        item: sum(u * v for u, v in zip(user, vec, strict=True))
        for item, vec in item_factors.items()
    }
    ranked = sorted(scores, key=lambda item: (-scores[item], item))
    return {"items": ranked[:k], "source": "als"}
