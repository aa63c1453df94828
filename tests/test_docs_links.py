"""Every relative link in the README and docs/ points at a file that exists and, with a #fragment, at a heading in it.

The best-of-N record moved from the README to docs/lcb-best-of-n.md, and both link into each other by section; a
renamed heading would otherwise leave a link that silently opens the top of the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation other than '-' and '_' dropped, spaces to '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text())
    return {github_anchor(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text())
    return [target for target in _LINK.findall(text) if not re.match(r"[a-z]+://", target)]


def test_github_anchor_matches_github_rules() -> None:
    assert (github_anchor("PRM modes: LoRA on GPUs, a frozen trunk on CPUs")
            == "prm-modes-lora-on-gpus-a-frozen-trunk-on-cpus")
    assert (github_anchor("9. Monte-Carlo labels: `make eval-lcb-mc-window`")
            == "9-monte-carlo-labels-make-eval-lcb-mc-window")
    assert github_anchor("Best-of-N on release_v6 (Jan-Apr 2025)") == "best-of-n-on-release_v6-jan-apr-2025"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in links(doc):
        file_part, _, fragment = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading '#{fragment}' in {dest}")
    assert not broken, f"{doc.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


# Names that docstrings in dreamprm/ cite as "(README, '<name>')". Those files are part of the stages' code identity,
# so the README keeps the names rather than the docstrings being edited after a README change.
CITED_IN_CODE = {
    "A PRM trained on the ranked models' own code": "dreamprm/data/policies.py",
}


@pytest.mark.parametrize("name", sorted(CITED_IN_CODE))
def test_readme_keeps_the_names_code_cites(name: str) -> None:
    assert name in (ROOT / CITED_IN_CODE[name]).read_text(), f"{CITED_IN_CODE[name]} no longer cites {name!r}"
    assert name in (ROOT / "README.md").read_text(), f"README.md lost {name!r}, which {CITED_IN_CODE[name]} cites"
