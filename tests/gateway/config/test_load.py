"""Config loading: env references, validation with key paths, secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.commands.cli import main
from gateway.config import envsubst
from gateway.config.load import ConfigError, default_routing, load, parse
from gateway.config.settings import RoutingSettings
from tests.fakes.paths import EXAMPLES

GOOD = """
models:
  assistant:
    student: {base_url: "${STUDENT_URL}", model: s}
    teacher: {base_url: "${TEACHER_URL:-http://teacher:8000/v1}", model: t, api_key_env: TKEY}
"""


@pytest.mark.parametrize(
    ("value", "env", "want", "problems"),
    [
        ("${A}", {"A": "x"}, "x", 0),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post", 0),
        ("${A:-dflt}", {}, "dflt", 0),
        ("${A:-dflt}", {"A": ""}, "dflt", 0),
        ("${A}", {"A": ""}, "", 0),
        ("${A}", {}, "", 1),
        ("${A}${B}", {"A": "$", "B": "{C}"}, "${C}", 0),  # expanded once, not twice
        ("no refs $HOME", {}, "no refs $HOME", 0),
    ],
)
def test_env_references(value: str, env: dict[str, str], want: str, problems: int) -> None:
    found: list[str] = []
    assert envsubst.expand({"k": [value]}, env, found) == {"k": [want]}
    assert len(found) == problems
    if problems:
        assert found[0].startswith("k.0: environment variable")


def test_good_config_resolves_urls_and_keys() -> None:
    env = {"STUDENT_URL": "http://student:8000/v1/", "TKEY": "sk-secret"}
    loaded = parse(GOOD.encode(), env)
    pair = loaded.settings.models["assistant"]
    assert pair.student.base_url == "http://student:8000/v1"  # trailing slash dropped
    assert pair.teacher.base_url == "http://teacher:8000/v1"
    assert loaded.api_keys[("assistant", "teacher")] == "sk-secret"
    assert loaded.api_keys[("assistant", "student")] is None


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (
            GOOD,
            {"TKEY": "k"},
            "models.assistant.student.base_url: environment variable STUDENT_URL is not set",
        ),
        (
            GOOD,
            {"STUDENT_URL": "http://s:1/v1"},
            "models.assistant.teacher.api_key_env: environment variable TKEY is not set",
        ),
        (
            GOOD.replace("model: s", "model: s, timeout_s: -1"),
            {"STUDENT_URL": "http://s:1", "TKEY": "k"},
            "models.assistant.student.timeout_s: Input should be greater than 0",
        ),
        (
            GOOD.replace("model: s", "model: s, colour: red"),
            {"STUDENT_URL": "http://s:1", "TKEY": "k"},
            "models.assistant.student.colour: Extra inputs are not permitted",
        ),
        (
            GOOD,
            {"STUDENT_URL": "student:8000", "TKEY": "k"},
            "models.assistant.student.base_url: Value error, must be an http:// or https:// URL",
        ),
        ("models: {}\n", {}, "models: Dictionary should have at least 1 item"),
        (
            "models:\n  a:\n    student: {base_url: 'http://x:1', model: m}\n",
            {},
            "models.a.teacher: Field required",
        ),
        ("models: [unclosed\n", {}, "<yaml>: line 2, column 1"),
        ("- a list\n", {}, "<root>: must be a mapping"),
    ],
)
def test_problems_name_their_key_path(text: str, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), env)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("model: s", "model: s, timeout_s: 0, clients: 0")
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), {"STUDENT_URL": "http://s:1"})
    paths = sorted(p.split(":")[0] for p in info.value.problems)
    assert paths == [
        "models.assistant.student.clients",
        "models.assistant.student.timeout_s",
        "models.assistant.teacher.api_key_env",
    ]


def test_check_config_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDENT_URL", "http://student:8000/v1")
    monkeypatch.setenv("TEACHER_URL", "http://teacher:8000/v1")
    assert main(["check-config", str(EXAMPLES / "minimal.yaml")]) == 0
    assert "OK (models: assistant" in capsys.readouterr().out

    broken = tmp_path / "broken.yaml"
    broken.write_text(GOOD.replace("model: t,", "model: t, timeout_s: soon,"))
    monkeypatch.delenv("STUDENT_URL")
    assert main(["check-config", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    assert "models.assistant.student.base_url: environment variable STUDENT_URL is not set" in err
    assert "models.assistant.teacher.timeout_s: Input should be a valid number" in err
    assert "api_key_env: environment variable TKEY is not set" in err

    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert "<file>: cannot read" in capsys.readouterr().err


def test_reference_config_is_valid_and_carries_the_default_routing() -> None:
    env = {"STUDENT_URL": "http://student:8000/v1", "TEACHER_URL": "http://teacher:8000/v1"}
    loaded = load(EXAMPLES / "distillgate.yaml", env)
    default = RoutingSettings.model_validate(default_routing())
    assert loaded.settings.routing == default
    assert {"self_harm", "medical", "legal", "financial", "cyber", "violence", "sexual",
            "hate", "code", "math", "general"} <= set(default.categories)  # fmt: skip


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ("routing: {categories: {general: {risk: low, route: student}}, default_category: x}",
         "routing: Value error, default_category 'x' is not one of the categories"),
        ("routing: {categories: {general: {risk: extreme, route: student}}}",
         "routing.categories.general.risk: Input should be 'low', 'medium' or 'high'"),
        ("routing: {categories: {general: {risk: low, route: gpu}}}",
         "routing.categories.general.route: Input should be 'student', 'teacher' or 'auto'"),
        ("routing: {categories: {general: {risk: low, route: student, keywords: ['(']}}}",
         "routing.categories.general.keywords: Value error, keyword 0 is not a valid pattern"),
        ("routing: {categories: {general: {risk: low, route: student, max_gap: 2}}}",
         "routing.categories.general.max_gap: Input should be less than or equal to 1"),
        ("routing: {ambiguity_margin: -0.1, categories: {general: {risk: low, route: student}}}",
         "routing.ambiguity_margin: Input should be greater than or equal to 0"),
    ],
)  # fmt: skip
def test_routing_problems(routing: str, expected: str) -> None:
    text = GOOD + routing + "\n"
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"})
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_keywords_must_be_lower_case() -> None:
    text = (
        GOOD + "routing: {categories: {general: {risk: low, route: student, keywords: [Kill]}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"})
    assert "write them in lower case" in info.value.problems[0]
    ok = (
        GOOD
        + "routing: {categories: {general: {risk: low, route: student, keywords: ['\\\\W']}}}\n"
    )
    parse(ok.encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"})


def routing_of(text: str) -> RoutingSettings:
    return parse(
        (GOOD + text).encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"}
    ).settings.routing


def test_a_routing_section_names_only_what_it_changes() -> None:
    shipped = RoutingSettings.model_validate(default_routing())
    routing = routing_of(
        "routing:\n"
        "  ambiguity_margin: 0.3\n"
        "  escalation: {commit_tokens: 8}\n"
        "  categories:\n"
        "    medical: {max_gap: 0.2}\n"  # one field of a shipped category
        "    hate: null\n"  # removed
        "    travel: {risk: low, route: student}\n"  # added
    )
    assert routing.ambiguity_margin == 0.3
    assert routing.escalation.commit_tokens == 8
    assert routing.escalation.low_quantile == shipped.escalation.low_quantile
    assert routing.categories["medical"].max_gap == 0.2
    medical = shipped.categories["medical"]
    assert routing.categories["medical"].model_dump(exclude={"max_gap"}) == medical.model_dump(
        exclude={"max_gap"}
    )
    assert "hate" not in routing.categories and "travel" in routing.categories
    assert set(routing.categories) == set(shipped.categories) - {"hate"} | {"travel"}
    assert routing.high_risk_signal == shipped.high_risk_signal


def test_replace_defaults_keeps_only_the_configs_own_section() -> None:
    routing = routing_of(
        "routing: {replace_defaults: true, categories: {general: {risk: low, route: student}}}\n"
    )
    assert list(routing.categories) == ["general"]
    with pytest.raises(ConfigError) as info:
        routing_of("routing: {replace_defaults: maybe}\n")
    assert info.value.problems == ["routing.replace_defaults: must be true or false"]


def test_check_config_prints_the_effective_routing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD + "routing: {categories: {medical: {max_gap: 0.2}, hate: null}}\n")
    monkeypatch.setenv("STUDENT_URL", "http://s:1")
    monkeypatch.setenv("TKEY", "k")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    effective = yaml.safe_load(out[out.index("effective routing:") :])["effective routing"]
    assert effective["categories"]["medical"]["max_gap"] == 0.2
    assert "hate" not in effective["categories"] and "violence" in effective["categories"]


def test_upstream_keys_are_stripped_and_control_characters_refused() -> None:
    env = {"STUDENT_URL": "http://s:1", "TKEY": "sk-teacher\n"}
    assert parse(GOOD.encode(), env).api_keys[("assistant", "teacher")] == "sk-teacher"
    with pytest.raises(ConfigError) as info:
        parse(GOOD.encode(), {**env, "TKEY": "sk-te\x00acher"})
    assert info.value.problems == [
        "models.assistant.teacher.api_key_env: the key in TKEY has control characters"
    ]
    assert "sk-te" not in str(info.value)


@pytest.mark.parametrize("name", ["bad name", "caf\u00e9", "x\r\ny", "", "-leading"])
def test_category_names_must_be_header_safe(name: str) -> None:
    category = {name: {"risk": "low", "route": "student"}}
    text = GOOD + yaml.safe_dump({"routing": {"categories": category}})
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"})
    assert any(
        p.startswith("routing.categories") and "letters, digits" in p for p in info.value.problems
    ), info.value.problems


def test_validation_messages_carry_no_values() -> None:
    """A problem names the key path and the kind of problem; a value (perhaps expanded
    from a secret) never appears."""
    env = {"STUDENT_URL": "ftp://user:hunter2@s:1", "TKEY": "k"}
    text = GOOD + "state: {url: 'tcp://:also-secret@redis:1'}\n"
    with pytest.raises(ConfigError) as info:
        parse(text.encode(), env)
    assert "hunter2" not in str(info.value) and "also-secret" not in str(info.value)
    assert sorted(p.split(":")[0] for p in info.value.problems) == [
        "models.assistant.student.base_url",
        "state.url",
    ]


def test_a_config_sent_over_http_is_not_expanded() -> None:
    with pytest.raises(ConfigError) as info:
        parse(GOOD.encode(), {"STUDENT_URL": "http://s:1", "TKEY": "k"}, expand=False)
    assert [p.split(":")[0] for p in info.value.problems][:2] == [
        "models.assistant.student.base_url",
        "models.assistant.teacher.base_url",
    ]
    assert "not expanded" in info.value.problems[0]
