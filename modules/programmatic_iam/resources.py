"""The one place that knows where the shipped files are: the jinja2 templates under ``templates/``."""

from __future__ import annotations

from pathlib import Path

# modules/programmatic_iam/resources.py -> the repository root, which holds templates/ beside modules/.
_REPOSITORY = Path(__file__).resolve().parents[2]


def templates_dir(kind: str) -> Path:
    """The folder of one kind of template (``policies``) in ``templates/`` at the top of the repository."""
    return _REPOSITORY / "templates" / kind
