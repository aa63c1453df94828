"""Step labels (PAPER.md stage 4): Monte-Carlo rollouts, or the final verdict propagated to every step."""

from dreamprm.labeling.montecarlo import Judge, MCLabelConfig, label_candidates
from dreamprm.labeling.outcome import outcome_step_labels

__all__ = ["Judge", "MCLabelConfig", "label_candidates", "outcome_step_labels"]
