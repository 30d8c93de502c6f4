"""``mlfabric init``: make a home (``--home DIR``, else the default one)."""

from __future__ import annotations

from mlfabric.console import OPTIONS, emit_json, say


def init() -> None:
    """Make a home: the folder, its catalog. Other commands refuse a --home that is not one."""
    from mlfabric.home import init_home

    home, new = init_home(OPTIONS.home)
    if OPTIONS.json:
        emit_json({"home": str(home.path), "created": new})
    else:
        say(f"{'initialized' if new else 'already a'} home at {home.path}")
