#!/usr/bin/env python3
"""Checks the workspace's layering (DESIGN.md §2): each crate under crates/ may depend only on the
internal crates listed for it below, in [dependencies] and [dev-dependencies] alike; and inside
each crate the top-level modules (`src/*.rs`) refer to each other (`crate::module`) without a
cycle. Prints every violation and exits 1 if there is one.

Usage: python3 scripts/check_arch.py
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# crate directory -> internal crates it may depend on (DESIGN.md §2, bottom-up).
ALLOWED: dict[str, set[str]] = {
    "types": set(),
    "storage": {"types"},
    "shard": {"storage", "types"},
    "transport": {"types"},
    "cluster": {"transport", "types"},
    "collection": {"shard", "transport", "types"},
    "node": {"collection", "cluster", "transport", "types"},
    "api": {"node", "types"},
    "server": {"api", "node", "cluster", "collection", "shard", "storage", "transport", "types"},
    # DESIGN's `testkit`: the in-process simulation, test-only.
    "sim": {"api", "node", "cluster", "collection", "shard", "storage", "transport", "types"},
}

PREFIX = "quiver-"


def internal_deps(manifest: dict) -> dict[str, set[str]]:
    """Internal dependencies per section of one Cargo.toml."""
    out: dict[str, set[str]] = {}
    for section in ("dependencies", "dev-dependencies", "build-dependencies"):
        names = manifest.get(section, {})
        out[section] = {name[len(PREFIX):] for name in names if name.startswith(PREFIX)}
    return out


def module_cycle(src: Path) -> list[str] | None:
    """A cycle among the crate's top-level modules, if any (`crate::x` references per file)."""
    modules = {f.stem: f for f in src.glob("*.rs") if f.stem not in ("lib", "main")}
    edges = {
        name: {m for m in re.findall(r"crate::([a-z_0-9]+)", f.read_text()) if m in modules and m != name}
        for name, f in modules.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(modules):
        if name not in state and (found := visit(name)):
            return found
    return None


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    problems: list[str] = []
    crates = sorted(p.parent for p in (root / "crates").glob("*/Cargo.toml"))
    for crate in crates:
        name = crate.name
        if name not in ALLOWED:
            problems.append(f"crates/{name}: not in the layering table of scripts/check_arch.py (DESIGN.md §2)")
            continue
        cycle = module_cycle(crate / "src")
        if cycle:
            problems.append(f"crates/{name}: module cycle {' -> '.join(cycle)}")
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        for section, deps in internal_deps(manifest).items():
            for dep in sorted(deps - ALLOWED[name]):
                problems.append(f"crates/{name} [{section}] depends on quiver-{dep}, which DESIGN.md §2 does not allow")
    for line in problems:
        print(f"architecture: {line}")
    if not problems:
        print(f"architecture: {len(crates)} crates follow the layering of DESIGN.md §2, no module cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
