"""The README's links (the newcomer's first screen, read on the forge, not in the site) reach files and headings.

The pages under docs/ are checked by `mkdocs build --strict` (make docs); the README is outside the site."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r'\]\(([^)\s]+)\)')


def _anchors(page: Path) -> set[str]:
    """Heading ids as MkDocs' toc makes them: lower case, punctuation dropped, spaces to hyphens."""
    headings = [line.lstrip('#').strip() for line in _prose(page.read_text()).splitlines() if line.startswith('#')]
    return {re.sub(r'[\s]+', '-', re.sub(r'[^\w\s-]', '', heading.lower())) for heading in headings}


def _prose(text: str) -> str:
    return re.sub(r'```.*?```', '', text, flags=re.DOTALL)


def test_readme_links_reach_files_and_headings() -> None:
    links = [link for link in LINK.findall(_prose((ROOT / 'README.md').read_text())) if '://' not in link]
    assert len(links) > 10
    for link in links:
        path, _, anchor = link.partition('#')
        target = ROOT / path
        assert target.is_file(), link
        if anchor:
            assert anchor in _anchors(target), link
