"""Turn a scoring request into standardized feature rows for the churn model."""

import json

FEATURES = ["tenure_months", "monthly_charges", "support_calls"]


def parse_rows(raw_data):
    """Read `{"data": [[tenure_months, monthly_charges, support_calls], ...]}`."""
    rows = json.loads(raw_data)["data"]
    for row in rows:
        # Reject bad rows here: a wrong width would otherwise score silently.
        if len(row) != len(FEATURES) or not all(isinstance(x, (int, float)) for x in row):
            raise ValueError(f"each row needs {len(FEATURES)} numbers: {FEATURES}")
    return [[float(x) for x in row] for row in rows]


def standardize(row, means, scales):
    # The model was trained on StandardScaler output, so score on the same scale.
    return [(x - mean) / scale for x, mean, scale in zip(row, means, scales, strict=True)]
