"""Jinja2 templates: an HTML + plain-text pair and a subject per name, rendered strictly.

Autoescaping is on for HTML and off for text; StrictUndefined makes a missing variable an
error at send time (a `ValidationFailure`: dead-lettered with the reason, no half-rendered
mail ever leaves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
)
from switchboard_shared.failures import ValidationFailure

PARTS = ("subject.txt", "body.txt", "body.html")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


@dataclass(frozen=True)
class CompiledMail:
    """Subject, text and HTML templates ready to render many times (one per recipient)."""

    name: str
    subject: Template
    text: Template | None
    html: Template | None

    def render(self, context: Mapping[str, Any]) -> Rendered:
        try:
            return Rendered(
                subject=" ".join(self.subject.render(context).split()),
                text=self.text.render(context) if self.text else None,
                html=self.html.render(context) if self.html else None,
            )
        except TemplateError as exc:
            raise ValidationFailure(f"template {self.name!r} cannot be rendered: {exc}") from exc


class Templates:
    def __init__(self, loader: BaseLoader | None = None) -> None:
        loader = loader or PackageLoader("switchboard_email", "templates")
        # Packaged files do not change while a worker runs: no stat() per render.
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "auto_reload": False,
        }
        self._text = Environment(autoescape=False, keep_trailing_newline=True, **common)
        self._html = Environment(autoescape=True, **common)

    def named(self, name: str) -> CompiledMail:
        """The files `<name>/subject.txt`, `<name>/body.txt` and `<name>/body.html`."""
        try:
            subject = self._text.get_template(f"{name}/subject.txt")
        except TemplateNotFound:
            raise ValidationFailure(f"unknown email template {name!r}") from None
        return CompiledMail(
            name,
            subject,
            self._optional(self._text, f"{name}/body.txt"),
            self._optional(self._html, f"{name}/body.html"),
        )

    def inline(self, subject: str, text: str | None, html: str | None) -> CompiledMail:
        """A subject and bodies given in the command, personalised like a named template."""
        try:
            return CompiledMail(
                "inline",
                self._text.from_string(subject),
                self._text.from_string(text) if text else None,
                self._html.from_string(html) if html else None,
            )
        except TemplateError as exc:
            raise ValidationFailure(f"inline template cannot be compiled: {exc}") from exc

    @staticmethod
    def _optional(env: Environment, path: str) -> Template | None:
        try:
            return env.get_template(path)
        except TemplateNotFound:
            return None
