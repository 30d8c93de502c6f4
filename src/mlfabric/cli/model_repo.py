"""``mlfabric model-repo check``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import serving
from mlfabric.console import OPTIONS, emit_json, say, table
from mlfabric.errors import MlfabricError

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


def _io(tensors: list[dict]) -> str:
    return ", ".join(f"{t['name']} {t['datatype']} {t['dims']}" for t in tensors) or "-"


@app.command("check")
def check(volume: str = typer.Argument(..., help="Volume holding the repository.")) -> None:
    """Validate a volume as a Triton model repository; lists each model's problems and
    exits 1 when there is any."""
    report = serving.check_repo(volume, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(report)
    else:
        table(["MODEL", "KIND", "VERSIONS", "BATCH", "INPUTS", "OUTPUTS", "CHECK"],
              [[m["name"], m["kind"], ", ".join(m["versions"]) or None, m["max_batch_size"],
                _io(m["inputs"]), _io(m["outputs"]),
                f"{len(m['problems'])} problem(s)" if m["problems"] else "ok"]
               for m in report.models])
        for problem in report.problems:
            say(f"repository: {problem}")
        for m in report.models:
            for problem in m["problems"]:
                say(f"{m['name']}: {problem}")
    if report.problems:
        raise MlfabricError(f"model repository '{volume}': {'; '.join(report.problems)}")
    bad = [m["name"] for m in report.models if m["problems"]]
    if bad:
        raise MlfabricError(f"model repository '{volume}': problems in {', '.join(bad)}")
    say(f"model repository '{volume}': {len(report.models)} model(s), no problems")
