#!/usr/bin/env python3
"""Checks the workspace's layering (DESIGN.md §2): each crate under crates/ may depend only on the
internal crates listed for it below, in [dependencies] and [dev-dependencies] alike. Prints every
violation and exits 1 if there is one.

Usage: python3 scripts/check_arch.py
"""

from __future__ import annotations

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


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    problems: list[str] = []
    crates = sorted(p.parent for p in (root / "crates").glob("*/Cargo.toml"))
    for crate in crates:
        name = crate.name
        if name not in ALLOWED:
            problems.append(f"crates/{name}: not in the layering table of scripts/check_arch.py (DESIGN.md §2)")
            continue
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        for section, deps in internal_deps(manifest).items():
            for dep in sorted(deps - ALLOWED[name]):
                problems.append(f"crates/{name} [{section}] depends on quiver-{dep}, which DESIGN.md §2 does not allow")
    for line in problems:
        print(f"architecture: {line}")
    if not problems:
        print(f"architecture: {len(crates)} crates follow the layering of DESIGN.md §2")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
