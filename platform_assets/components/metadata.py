"""What the UI shows about an asset, derived from its contract (never written by hand per
asset): the column schema with each column's upstream columns, kinds with icons, tags for
layer, source system and PII, and links to the files that define it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from platform_assets.components.common import ConfigError
from platform_assets.contracts import Contract
from platform_assets.contracts.lineage import column_chains, described
from platform_assets.contracts.types import type_label
from platform_assets.home import embedded_warehouse_url
from platform_assets.warehouse.faults import UnsupportedUrlError
from platform_assets.warehouse.urls import dialect_of

LAYER_TAG = "platform/layer"  # raw | staging | marts
SOURCE_TAG = "platform/source"  # the source system: the defs folder of a raw table's source
PII_TAG = "platform/pii"  # "true" when any column of the contract is marked pii
CODE_REFERENCES_KEY = "dagster/code_references"


def column_schema(contract: Contract, catalog: Mapping[str, Contract]) -> dg.TableSchema:
    """Each column's description names its upstream columns down to raw (the OSS UI draws no
    column graph, but its Columns table shows descriptions); PII columns are tagged."""
    chains = column_chains({**catalog, contract.table: contract}, contract.table)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=type_label(c),
                description=described(c.description, chains[c.name]),
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable,
                    unique=contract.primary_key == (c.name,),
                    other=[f"references {c.references}"] if c.references else [],
                ),
                tags={"pii": "true"} if c.pii else None,
            )
            for c in contract.columns
        ]
    )


def code_references(contract: Contract, sql_file: Path | None = None) -> dg.MetadataValue:
    """Links from the asset to its contract and, for a transform, its SQL. Dagster adds the
    component's defs.yaml; ``link_to_repository`` turns them into URLs when configured."""
    files = [("contract", contract.path)] + ([("SQL", sql_file)] if sql_file else [])
    return dg.CodeReferencesMetadataValue(
        code_references=[
            dg.LocalFileCodeReference(file_path=str(path), label=f"{label}: {path.name}")
            for label, path in files
            if path is not None
        ]
    )


def definition_metadata(
    contract: Contract, catalog: Mapping[str, Contract], sql_file: Path | None = None
) -> dict[str, Any]:
    return {
        "dagster/column_schema": column_schema(contract, catalog),
        "dagster/table_name": f"{contract.schema}.{contract.table}",
        CODE_REFERENCES_KEY: code_references(contract, sql_file),
        "contract": contract.source_file,
        "primary_key": ", ".join(contract.primary_key),
    }


def warehouse_kind(env: Mapping[str, str] = os.environ) -> set[str]:
    """``duckdb`` or ``postgres`` (the UI shows their icons), from PLATFORM_WAREHOUSE_URL's
    scheme, read when the definitions load (the scheme is never a secret). An unsupported
    scheme adds no kind here: the warehouse resource fails every step and ``platform run``'s
    preflight with an error naming the variable, which is where that mistake is reported."""
    try:
        return {dialect_of(env.get("PLATFORM_WAREHOUSE_URL") or embedded_warehouse_url(env))}
    except UnsupportedUrlError:
        return set()


def asset_tags(contract: Contract, source_systems: Iterable[str]) -> dict[str, str]:
    """Layer, source system(s) and PII. Tag values admit one name each, so a table fed by
    several systems gets one ``platform/source.<system>`` tag per system besides."""
    systems = sorted(set(source_systems))
    tags = {LAYER_TAG: contract.layer, PII_TAG: "true" if contract.pii_columns else "false"}
    if len(systems) == 1:
        tags[SOURCE_TAG] = systems[0]
    for system in systems:
        tags[f"{SOURCE_TAG}.{system}"] = ""
    return tags


def source_system(contract: Contract) -> str:
    """A raw table's source system: the defs folder its contract lives in."""
    folder, _, _ = contract.source_file.rpartition("/")
    return folder.split("/")[-1] if folder else contract.table


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # platform_assets/, in a checkout or a wheel


def repository_links(env: Mapping[str, str] = os.environ) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """With PLATFORM_REPO_URL (``https://github.com/<org>/<repo>`` or a GitLab URL) and
    PLATFORM_REPO_BRANCH (default ``main``), every file link of an asset becomes a link to
    that file in the repository, as ``dg.link_code_references_to_git`` makes them. Applied
    to the loaded definitions, so the links Dagster adds to each defs.yaml convert too."""
    url = env["PLATFORM_REPO_URL"].rstrip("/")
    branch = env.get("PLATFORM_REPO_BRANCH") or "main"
    if "@" in urlsplit(url).netloc:  # every link is shown in the UI: no token in them
        raise ConfigError(
            "PLATFORM_REPO_URL must not hold credentials (user or token before '@'): its "
            "links are shown to everyone who opens the UI; the browser signs in on its own"
        )
    if "github" in url:
        base = f"{url}/tree/{branch}"
    elif "gitlab" in url:
        base = f"{url}/-/tree/{branch}"
    else:
        raise ConfigError(
            "PLATFORM_REPO_URL must be a GitHub or GitLab repository URL "
            f"(https://github.com/<org>/<repo>); got one on {urlsplit(url).netloc or 'no host'}"
        )
    mapping = dg.AnchorBasedFilePathMapping(
        local_file_anchor=PACKAGE_DIR / "__init__.py",
        file_anchor_path_in_repository="platform_assets/__init__.py",
    )

    def to_url(ref: dg.LocalFileCodeReference | dg.UrlCodeReference) -> dg.UrlCodeReference:
        if isinstance(ref, dg.UrlCodeReference):
            return ref
        path = mapping.convert_to_source_control_path(Path(ref.file_path))
        line = f"#L{ref.line_number}" if ref.line_number else ""
        return dg.UrlCodeReference(url=f"{base}/{path}{line}", label=ref.label)

    def link(spec: dg.AssetSpec) -> dg.AssetSpec:
        refs = spec.metadata.get(CODE_REFERENCES_KEY)
        if not isinstance(refs, dg.CodeReferencesMetadataValue):
            return spec
        linked = [to_url(ref) for ref in refs.code_references]
        return spec.replace_attributes(
            metadata={
                **spec.metadata,
                CODE_REFERENCES_KEY: dg.CodeReferencesMetadataValue(code_references=linked),
            }
        )

    return link
