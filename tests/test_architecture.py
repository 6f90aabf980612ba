"""The package boundaries of ARCHITECTURE.md and the README's module map, checked on the
import statements, and the size limit of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = ("gateway", "router", "monitors")
MAX_LINES = 400
FORBIDDEN = {
    "router": {
        "fastapi",
        "starlette",
        "httpx",
        "redis",
        "uvicorn",
        "gateway",
        "monitors",
        "pydantic",
    },
    "monitors": {"fastapi", "starlette", "uvicorn", "gateway"},
}
# Inside gateway/: which room may import which (besides itself). Read bottom-up: transport
# (upstream) and the config's lifecycle know each other only through the settings types
# and the clients a live config holds; the request path (serving) sits on both; services
# builds the long-lived parts; lifespan and api are the HTTP process; app wires it; the
# command line, the audit and the fake vLLM server are leaves that nothing serving imports.
GATEWAY_ROOMS: dict[str, set[str]] = {
    "upstream": {"config"},
    "config": {"upstream"},
    "serving": {"config", "upstream"},
    "services": {"config", "upstream"},
    "lifespan": {"api", "config", "serving", "services"},
    "api": {"config", "lifespan", "serving", "upstream"},
    "app": {"api", "config", "lifespan", "serving", "services"},
    "audit": {"config", "upstream"},
    "fake_vllm": set(),
    "commands": {"api", "app", "audit", "config", "fake_vllm", "services", "upstream"},
    "__main__": {"commands"},
}


def imports(path: Path) -> set[str]:
    """Every absolute module name imported, in full (`a.b.c` for `from a.b import c`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_inside_their_layer(package: str) -> None:
    files = modules(package)
    assert files, f"{package}/ has no modules"
    for path in files:
        bad = {name.split(".")[0] for name in imports(path)} & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def room(path: Path) -> str:
    parts = path.relative_to(ROOT / "gateway").parts
    return parts[0] if len(parts) > 1 else path.stem


def test_gateway_rooms_import_only_what_the_map_allows() -> None:
    problems = []
    for path in modules("gateway"):
        if path.name == "__init__.py" and path.parent.name == "gateway":
            continue
        own = room(path)
        assert own in GATEWAY_ROOMS, f"{path.relative_to(ROOT)}: a room the map does not name"
        for name in imports(path):
            parts = name.split(".")
            if parts[0] != "gateway" or len(parts) < 2:
                continue
            other = parts[1]
            if other != own and other not in GATEWAY_ROOMS[own]:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_the_map_names_every_room() -> None:
    rooms = {room(p) for p in modules("gateway") if p.parent != ROOT / "gateway" / "data"}
    assert rooms - {"__init__"} == set(GATEWAY_ROOMS)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_the_size_limit(package: str) -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules(package)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_module_opens_with_a_docstring() -> None:
    for package in PACKAGES:
        for path in modules(package):
            tree = ast.parse(path.read_text())
            assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no module docstring"
