"""Safe `{name}` templates for person-written message text.

str.format would let a template reach object internals (`{item.__init__.__globals__}`), so we only
borrow its tokenizer and substitute plain names ourselves: anything but `{name}` is refused.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

_FORMATTER = string.Formatter()


def template_problems(text: str, allowed: Iterable[str]) -> list[str]:
    """Plain-words problems with `text` as a template over the `allowed` names (empty when fine)."""
    names = list(dict.fromkeys(allowed))
    choices = ", ".join(f"{{{name}}}" for name in sorted(names))
    example = names[0] if names else "name"  # the caller's first name, usually its most typical
    problems: list[str] = []
    try:
        # parse() yields (literal text, field name, format spec, conversion) and raises ValueError
        # at the first unbalanced brace
        for _literal, name, spec, conversion in _FORMATTER.parse(text):
            if name is None:  # trailing literal text
                continue
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            base = name.split(".", 1)[0].split("[", 1)[0]
            if not name.strip():
                problems.append(f"empty placeholder {shown}: put a name inside, like {{{example}}}")
            elif base != name:
                hint = base if base in names else example
                problems.append(
                    f"placeholder {shown} is not allowed: use a plain name like {{{hint}}}, without . or [ ]"
                )
            elif name not in names:
                problems.append(f"unknown placeholder {shown}: use one of {choices}")
            elif conversion or spec:
                problems.append(f"placeholder {shown} is not allowed: write just {{{name}}}")
    except ValueError as error:
        # what was found before the broken brace is still reported
        if "conversion" in str(error):  # e.g. {item!rx}
            problems.append(f'"!" is not allowed in a placeholder: write just a name, like {{{example}}}')
        else:
            problems.append(
                f'a "{{" or "}}" has no partner: placeholders look like {{{example}}}; '
                "write {{ or }} for a literal brace"
            )
    return list(dict.fromkeys(problems))  # the same mistake twice is reported once


def render_template(text: str, values: Mapping[str, object]) -> str:
    """Substitute plain `{name}` fields with str(value) (None becomes ""); `{{`/`}}` are braces.

    Raises ValueError if the template has any problem, including a name missing from `values`.
    """
    problems = template_problems(text, values.keys())
    if problems:
        raise ValueError("; ".join(problems))
    parts: list[str] = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(text):
        parts.append(literal)
        if name is not None:
            value = values[name]
            parts.append("" if value is None else str(value))
    return "".join(parts)
