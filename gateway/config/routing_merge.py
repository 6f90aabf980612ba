"""The effective routing section: the shipped one with a config's own keys merged in.

A config names only what it changes. Top-level keys replace the shipped ones; the
`escalation` mapping merges key by key; under `categories`, a category's fields merge into
the shipped category of that name (a `keywords` list given replaces the shipped list), a
new name adds a category, and `name: null` removes one. `replace_defaults: true` takes the
config's section as it is, without the shipped one (the behaviour before merging existed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPLACE = "replace_defaults"


def effective_routing(
    given: Any, shipped: Mapping[str, Any], problems: list[str]
) -> dict[str, Any] | Any:
    """The routing section to validate. Anything malformed is passed through for the
    validator to report; a `replace_defaults` that is not a boolean goes to `problems`
    (and the section is merged, so nothing else is reported because of it)."""
    if given is None:
        return dict(shipped)
    if not isinstance(given, dict):
        return given  # the validator says what is wrong with it
    given = dict(given)
    replace = given.pop(REPLACE, False)
    if not isinstance(replace, bool):
        problems.append(f"routing.{REPLACE}: must be true or false")
    elif replace:
        return given
    merged = {**shipped, **given}
    for key in ("escalation", "categories"):
        if isinstance(shipped.get(key), dict) and isinstance(given.get(key), dict):
            merged[key] = (
                _merge_categories(shipped[key], given[key])
                if key == "categories"
                else {**shipped[key], **given[key]}
            )
    return merged


def _merge_categories(shipped: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(shipped)
    for name, fields in given.items():
        if fields is None:
            out.pop(name, None)
        elif isinstance(fields, dict) and isinstance(shipped.get(name), dict):
            out[name] = {**shipped[name], **fields}
        else:
            out[name] = fields  # a new category, or something for the validator to report
    return out
