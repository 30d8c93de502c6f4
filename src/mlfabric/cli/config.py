"""``mlfabric config set|get|list|unset``: the user's defaults (the project)."""

from __future__ import annotations

import typer

from mlfabric import config
from mlfabric.console import OPTIONS, emit_json, listing, say

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


@app.command("set")
def set_(key: str = typer.Argument(..., help="Setting: project."),
         value: str = typer.Argument(..., help="Its value.")) -> None:
    """Save a setting, e.g. config set project team-a."""
    values = config.set_setting(key, value)
    if OPTIONS.json:
        emit_json(values)
    else:
        say(f"{key} = {value} (in {config.settings_path()})")


@app.command("get")
def get(key: str = typer.Argument(..., help="Setting: project.")) -> None:
    """Print a setting's value (exit 1 when it is not set)."""
    value = config.get_setting(key)
    if OPTIONS.json:
        emit_json({key: value})
    else:
        print(value)


@app.command("list")
def list_() -> None:
    """Every setting with its value and where it comes from."""
    values = config.read_settings()
    rows = []
    for key in sorted(config.SETTINGS):
        value, source = values.get(key), str(config.settings_path()) if key in values else None
        if key == "project" and config.default_project() != value:
            value, source = config.default_project(), f"${config.PROJECT_ENV}"
        rows.append({"key": key, "value": value, "source": source})
    listing(rows, ["KEY", "VALUE", "FROM"], [[r["key"], r["value"], r["source"]] for r in rows],
            [r["key"] for r in rows])


@app.command("unset")
def unset(key: str = typer.Argument(..., help="Setting: project.")) -> None:
    """Forget a setting."""
    values = config.unset_setting(key)
    if OPTIONS.json:
        emit_json(values)
    else:
        say(f"unset {key}")
