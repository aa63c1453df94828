"""Monte-Carlo step labels (PAPER.md stage 4)."""

from dreamprm.labeling.montecarlo import Judge, MCLabelConfig, label_candidates

__all__ = ["Judge", "MCLabelConfig", "label_candidates"]
