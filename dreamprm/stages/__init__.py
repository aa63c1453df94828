"""The pipeline's stages as plain functions (typed config in, artifacts out, one MLflow run each), with no
orchestrator in them: the CLI (``dreamprm.cli``) and the Prefect flows (``flows/``) are thin adapters over these, and
``dreamprm`` never imports ``flows`` (``tests/test_layering.py``). Fetch and execute keep their plain functions in
:mod:`dreamprm.data.fetch` and :mod:`dreamprm.execution`."""
