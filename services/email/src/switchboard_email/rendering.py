"""Jinja2 templates: an HTML + plain-text pair and a subject per name, rendered strictly.

Autoescaping is on for HTML and off for text; StrictUndefined makes a missing variable an
error at send time (a `ValidationFailure`: dead-lettered with the reason, no half-rendered
mail ever leaves).

Inline subjects and bodies come from API callers and database rows, so every template renders
in Jinja2's immutable sandbox with bounded memory and CPU (`sandbox.py`):
`{{ cycler.__init__.__globals__.os }}`, `{{ 'a' * 10**10 }}` and the like are refused (a
`ValidationFailure` naming the refusal) instead of running in the worker. So is a template that
fails at run time (`{{ 1 / 0 }}`): it would fail the same way on every attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from jinja2.exceptions import SecurityError
from switchboard_shared.failures import ValidationFailure

from .sandbox import MailSandbox, TemplateLimits, render_budget, render_part

PARTS = ("subject.txt", "body.txt", "body.html")
# What a template's own code can raise besides jinja2's errors (`{{ 1 / 0 }}`, `{{ 'a' + 1 }}`,
# a macro calling itself forever): the template's fault, the same on every attempt.
RUNTIME_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError, RecursionError)


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
    limits: TemplateLimits = field(default_factory=TemplateLimits)

    def render(self, context: Mapping[str, Any]) -> Rendered:
        """All three parts share one CPU allowance; each part is bounded in length."""
        try:
            with render_budget(self.limits):
                return Rendered(
                    subject=" ".join(self._part(self.subject, "subject", context).split()),
                    text=self._body(self.text, "text body", context),
                    html=self._body(self.html, "HTML body", context),
                )
        except SecurityError as exc:
            raise ValidationFailure(
                f"template {self.name!r} refused by the template sandbox: {exc}"
            ) from exc
        except TemplateError as exc:
            raise ValidationFailure(f"template {self.name!r} cannot be rendered: {exc}") from exc
        except RUNTIME_ERRORS as exc:
            raise ValidationFailure(
                f"template {self.name!r} cannot be rendered: {type(exc).__name__}: {exc}"
            ) from exc

    def _part(self, template: Template, part: str, context: Mapping[str, Any]) -> str:
        return render_part(template, context, part, self.limits.max_output)

    def _body(self, template: Template | None, part: str, context: Mapping[str, Any]) -> str | None:
        return None if template is None else self._part(template, part, context)


class Templates:
    def __init__(
        self, loader: BaseLoader | None = None, limits: TemplateLimits | None = None
    ) -> None:
        loader = loader or PackageLoader("switchboard_email", "templates")
        self.limits = limits or TemplateLimits()
        # Packaged files do not change while a worker runs: no stat() per render.
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "auto_reload": False,
        }
        self._text = MailSandbox(
            self.limits, autoescape=False, keep_trailing_newline=True, **common
        )
        self._html = MailSandbox(self.limits, autoescape=True, **common)

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
            self.limits,
        )

    def inline(self, subject: str, text: str | None, html: str | None) -> CompiledMail:
        """A subject and bodies given in the command, personalised like a named template."""
        try:
            return CompiledMail(
                "inline",
                self._text.from_string(subject),
                self._text.from_string(text) if text else None,
                self._html.from_string(html) if html else None,
                self.limits,
            )
        except (TemplateError, *RUNTIME_ERRORS) as exc:
            raise ValidationFailure(f"inline template cannot be compiled: {exc}") from exc

    @staticmethod
    def _optional(env: Environment, path: str) -> Template | None:
        try:
            return env.get_template(path)
        except TemplateNotFound:
            return None
