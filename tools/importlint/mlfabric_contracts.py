"""Import-linter contracts of mlfabric beyond the built-in ones (``make lint``).

``public_api``: the front ends and the apps import only public modules of other
packages. A public module is a top-level one (``mlfabric.volumes``, ``mlfabric.datasets``:
a package's ``__init__`` with its lazy exports) or one named in ``public``; anything
deeper (``mlfabric.storage.scan``) is private to its package. A module may always import
within its own unit: its package for a front end (``mlfabric.cli``), its app for an app
(``mlfabric.apps.faces``).
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class PublicApiContract(Contract):
    type_name = "public_api"

    importers = fields.ListField(subfield=fields.StringField())
    public = fields.ListField(subfield=fields.StringField(), required=False)

    def _unit(self, module: str) -> str | None:
        """The unit ``module`` belongs to (the importer it falls under), or None."""
        for importer in self.importers:  # type: ignore[attr-defined]
            if module == importer or module.startswith(importer + "."):
                if importer.endswith(".apps"):  # each app is a unit of its own
                    parts = module.split(".")
                    return ".".join(parts[:3]) if len(parts) > 2 else importer
                return importer
        return None

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        public = set(self.public or [])  # type: ignore[attr-defined]
        bad: list[dict[str, object]] = []
        for importer in sorted(graph.modules):
            unit = self._unit(importer)
            if unit is None:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if not imported.startswith("mlfabric.") or imported.count(".") < 2:
                    continue  # outside mlfabric, or a top-level (public) module
                if imported == unit or imported.startswith(unit + "."):
                    continue
                if imported in public:
                    continue
                lines = [d["line_number"] for d in graph.get_import_details(
                    importer=importer, imported=imported)]
                bad.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not bad, metadata={"bad": bad})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for b in check.metadata["bad"]:
            lines = ", ".join(f"l.{n}" for n in b["lines"])  # type: ignore[attr-defined]
            output.print_error(f"{b['importer']} imports private module {b['imported']} "
                               f"({lines})")
            output.new_line()
