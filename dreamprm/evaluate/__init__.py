"""Best-of-N evaluation: step-score aggregation, selection against baselines, paired bootstrap, reports and plots.

The PRM is not imported here: step scores arrive as data (one list of floats per candidate), so the evaluation can be
tested with hand-built tables and reused for any scorer (PRM variants, ORM, external rerankers).

Modules:
- ``aggregate``: step scores -> one score per candidate (min, mean, last, product, log-odds sum).
- ``select``: best-of-N pick per problem (score argmax, random, first sample, majority vote, oracle) and pass@k.
- ``stats``: paired bootstrap over problems (intervals, differences, one-sided share).
- ``report``: the JSON-serialisable report, pass@1-vs-N curves, calibration, PNG plots, markdown table.
"""
