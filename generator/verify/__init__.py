"""`gen-iac verify`: send the same requests to each v1 service and its v2 endpoint, compare
the answers, and complete CUTOVER.md.

Like `export`, a command beside the generator (`sources -> plan -> render -> output` is
untouched): it reads what a generate wrote into --out (and the snapshot, for the v1 side),
talks to Azure only through ARM (azure-identity for the token), and writes verify.json,
VERIFY.md and CUTOVER.md back into --out. azure-identity and requests are imported inside
functions: the generator starts without them.
"""
