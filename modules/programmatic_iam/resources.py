"""The one place that knows where the shipped files are: the jinja2 templates under ``templates/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# Installed from a wheel, the templates ship inside the package (pyproject.toml maps programmatic_iam.templates
# to templates/); in a checkout they stay at the top of the repository, beside modules/.
_INSTALLED_TEMPLATES = _PACKAGE / "templates"
_CHECKOUT_TEMPLATES = _PACKAGE.parents[1] / "templates"


def templates_dir(kind: str) -> Path:
    """The folder of one kind of template (``policies``, ``review``, ...), installed or in the checkout."""
    root = _INSTALLED_TEMPLATES if _INSTALLED_TEMPLATES.is_dir() else _CHECKOUT_TEMPLATES
    return root / kind
