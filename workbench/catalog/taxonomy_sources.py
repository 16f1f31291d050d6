"""Loaders for public category trees: Shopify (Open Product Taxonomy), Google, Best Buy.

Each loader returns a :class:`SourceTaxonomy`: the :class:`~workbench.catalog.taxonomy.Taxonomy` built
from every category path of the file, plus ``source_ids`` mapping each node id (the full path
joined with ``" > "``) to the id the source uses (Shopify gid
``gid://open-taxonomy/TaxonomyCategory/aa-1-1``, Google numeric id as a string, Best Buy ``abcat...`` id).

Files are read from ``workbench.paths.taxonomy_home()`` (``$WORKBENCH_TAXONOMY_HOME``, default
``../shared/taxonomies``) unless a path is given. A category name that itself contains the
node separator ``" > "`` would break node ids; none of the shipped files has one, and such a
name is stored with ``" / "`` in its place (Shopify and Google names are cut at the parent's
path, found from the Shopify id or the Google parent line, so the name stays whole).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

from workbench.errors import WorkbenchError
from workbench.paths import taxonomy_home
from workbench.catalog.taxonomy import SEP, Taxonomy, node_id

KINDS = ("shopify", "google", "bestbuy")


@dataclass(frozen=True)
class SourceTaxonomy:
    """A public taxonomy: the tree, the source's ids, and what loading had to decide.

    ``source_ids``: node id -> the source's category id. ``duplicates``: node ids that several
    source categories share (same names all the way down; Best Buy has a few) -> all their ids,
    the first of which is the one in ``source_ids``. ``untranslated``: nodes whose name fell
    back to English (Shopify translations with an empty name). ``skipped``: source ids left out
    (a category without a name).
    """

    kind: str
    taxonomy: Taxonomy
    source_ids: dict[str, str]
    path: Path
    version: str | None = None
    language: str | None = None
    duplicates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    untranslated: frozenset[str] = frozenset()
    skipped: tuple[str, ...] = ()

    def source_id(self, node: str) -> str:
        """The source's id of a node."""
        try:
            return self.source_ids[node]
        except KeyError:
            raise WorkbenchError(f"unknown category {node!r} in the {self.kind} taxonomy; "
                                 "use a full path joined with ' > '") from None

    @cached_property
    def _reverse(self) -> dict[str, str]:
        index = {sid: node for node, sid in self.source_ids.items()}
        for node, sids in self.duplicates.items():
            index.update({sid: node for sid in sids})
        if self.kind == "shopify":        # short ids (aa-1-1) as well as full gids
            index.update({sid.rsplit("/", 1)[1]: node for sid, node in list(index.items())})
        return index

    def node_of(self, source_id: str | int) -> str:
        """The node id of a source id (any of the ids of a merged duplicate)."""
        try:
            return self._reverse[str(source_id)]
        except KeyError:
            raise WorkbenchError(f"{source_id!r} is not a category id of the {self.kind} taxonomy "
                                 f"({self.path})") from None


# ----------------------------------------------------------------------------------------------
# helpers

def _safe_name(name: str) -> str:
    """A level name that cannot break node ids: surrounding spaces dropped, ``" > "`` -> ``" / "``."""
    return " / ".join(part.strip() for part in str(name).split(SEP)).strip()


def _resolve(kind: str, path: str | os.PathLike | None, default_dir: str, filename: str) -> Path:
    """The file to read: ``path`` (a file, or a folder holding ``filename``) or the default."""
    p = Path(path).expanduser() if path is not None else taxonomy_home() / default_dir / filename
    if p.is_dir():
        p = p / filename
    if not p.is_file():
        raise WorkbenchError(
            f"{kind} taxonomy file not found: {p}; put {default_dir}/{filename} under "
            f"$WORKBENCH_TAXONOMY_HOME (now {taxonomy_home()}) or pass path= to the loader")
    return p


def _read_lines(p: Path) -> list[str]:
    try:
        return p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{p} is not UTF-8 text ({exc.reason}); re-save it as UTF-8") from None


def _header_value(lines: Iterable[str], marker: str) -> str | None:
    for line in lines:
        if line.startswith("#") and marker in line:
            return line.split(marker, 1)[1].strip(" :") or None
    return None


def _build(kind: str, p: Path, paths: list[tuple[str, ...]], ids: list[tuple[str, ...]],
           level_names: Sequence[str] | None, **extra) -> SourceTaxonomy:
    """Taxonomy and source ids from parallel lists of name paths and id paths."""
    source_ids: dict[str, str] = {}
    seen: dict[str, list[str]] = {}
    for names, sids in zip(paths, ids):
        for depth in range(1, len(names) + 1):
            nid = node_id(names[:depth])
            sid = sids[depth - 1]
            found = seen.setdefault(nid, [])
            if sid not in found:
                found.append(sid)
            source_ids.setdefault(nid, sid)
    duplicates = {n: tuple(s) for n, s in seen.items() if len(s) > 1}
    return SourceTaxonomy(kind=kind, taxonomy=Taxonomy(paths, level_names), source_ids=source_ids,
                          path=p, duplicates=duplicates, **extra)


# ----------------------------------------------------------------------------------------------
# Shopify / Open Product Taxonomy

def _shopify_lines(p: Path) -> tuple[list[tuple[str, str]], str | None, str]:
    """``(short id, joined English path)`` per category line, the file's version, the gid prefix."""
    lines = _read_lines(p)
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        gid, sep, joined = line.partition(" : ")
        if not sep or "/TaxonomyCategory/" not in gid:
            raise WorkbenchError(f"{p}:{number}: expected 'gid://shopify/TaxonomyCategory/ID : A > B', "
                                 f"got {line[:80]!r}; use Shopify's categories.txt")
        records.append((gid.strip().rsplit("/", 1)[1], joined.strip()))
    if not records:
        raise WorkbenchError(f"{p} holds no categories; use Shopify's categories.txt")
    version = _header_value(lines[:5], "Categories")
    prefix = next(line for line in lines if "/TaxonomyCategory/" in line).split(" : ")[0].strip()
    return records, version, prefix.rsplit("/", 1)[0] + "/"


def _shopify_localized(folder: Path, language: str) -> dict[str, str]:
    """Short id -> name from ``localizations_categories/<language>.yml`` (empty names left out)."""
    f = folder / f"{language}.yml"
    if not f.is_file():
        available = sorted(x.stem for x in folder.glob("*.yml")) if folder.is_dir() else []
        raise WorkbenchError(
            f"no Shopify category names for language {language!r} ({f} not found); "
            f"use one of {', '.join(available) or 'en'} or add the file")
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(f.read_text(encoding="utf-8"), Loader=loader)
        cats = data[next(iter(data))]["categories"]
    except (yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise WorkbenchError(f"{f} is not a Shopify localization file ({type(exc).__name__}); "
                             "expected '<lang>: categories: <id>: name: ...'") from None
    return {str(k): str(v["name"]).strip() for k, v in cats.items()
            if isinstance(v, dict) and v.get("name") not in (None, "")}


def load_shopify(path: str | os.PathLike | None = None, language: str = "en",
                 level_names: Sequence[str] | None = None) -> SourceTaxonomy:
    """Shopify's Open Product Taxonomy from ``categories.txt`` (10,282 categories, depth 8).

    ``path``: the file or the ``shopify/`` folder. ``language``: ``"en"`` uses the names of
    categories.txt; another code (``de``, ``fr``, ``ja``, ``pt-BR``, ...) takes names from
    ``localizations_categories/<language>.yml`` beside it, keeping the English tree and ids; a
    category with no translation keeps its English name (listed in ``untranslated``).
    Source ids are the gids of the file (``gid://open-taxonomy/TaxonomyCategory/aa-1-1``, as in
    ``mappings.json``); ``node_of`` also takes the short id ``aa-1-1``, whose parent is ``aa-1``.
    Two siblings whose translated names coincide (a few per language) get their short id
    appended (``"Standuhren [hg-3-17-3-1]"``) so they stay two nodes.
    """
    p = _resolve("shopify", path, "shopify", "categories.txt")
    records, version, gid_prefix = _shopify_lines(p)
    joined_of = dict(records)
    names: dict[str, str] = {}
    for sid, joined in records:
        parent = sid.rsplit("-", 1)[0] if "-" in sid else None
        if parent is None:
            names[sid] = joined
            continue
        prefix = joined_of.get(parent)
        if prefix is None or not joined.startswith(prefix + SEP):
            raise WorkbenchError(f"{p}: category {sid} ({joined!r}) does not extend its parent "
                                 f"{parent} ({prefix!r}); the file is inconsistent")
        names[sid] = joined[len(prefix) + len(SEP):]
    untranslated: set[str] = set()
    if language != "en":
        localized = _shopify_localized(p.parent / "localizations_categories", language)
        for sid in names:
            if sid in localized:
                names[sid] = localized[sid]
            else:
                untranslated.add(sid)
    paths, ids = [], []
    for sid, _ in records:
        chain = sid.split("-")
        id_path = tuple("-".join(chain[:i]) for i in range(1, len(chain) + 1))
        name_path = tuple(_safe_name(names[s]) for s in id_path)
        paths.append(name_path)
        ids.append(id_path)
    paths = _disambiguate(paths, ids)
    fallback = frozenset(node_id(n) for n, i in zip(paths, ids) if i[-1] in untranslated)
    ids = [tuple(gid_prefix + i for i in id_path) for id_path in ids]
    return _build("shopify", p, paths, ids, level_names, version=version, language=language,
                  untranslated=fallback)


def _disambiguate(paths: list[tuple[str, ...]], ids: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Siblings with one name (a translation can merge two) get their source id appended."""
    owner: dict[tuple[str, ...], str] = {}
    clash: set[str] = set()
    for names, sids in zip(paths, ids):
        key = names
        if owner.setdefault(key, sids[-1]) != sids[-1]:
            clash.update({owner[key], sids[-1]})
    if not clash:
        return paths
    out = []
    for names, sids in zip(paths, ids):
        out.append(tuple(f"{n} [{s}]" if s in clash else n for n, s in zip(names, sids)))
    return out


# ----------------------------------------------------------------------------------------------
# Google

def load_google(path: str | os.PathLike | None = None, locale: str = "en-US",
                level_names: Sequence[str] | None = None) -> SourceTaxonomy:
    """Google's product taxonomy from ``taxonomy-with-ids.<locale>.txt`` (``id - A > B > C``).

    ``path``: the file or the ``google/`` folder; ``locale`` picks the file in a folder
    (``en-US``: 5,595 categories of 2021-09-21; ``de-DE``: 5,427 of 2015). A category's parent
    is the line whose path is the longest prefix of its own. Source ids are the numeric ids as
    strings.
    """
    p = _resolve("google", path, "google", f"taxonomy-with-ids.{locale}.txt")
    lines = _read_lines(p)
    records: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        gid, sep, joined = line.partition(" - ")
        if not sep or not gid.strip().isdigit():
            raise WorkbenchError(f"{p}:{number}: expected 'ID - A > B > C', got {line[:80]!r}; "
                                 "use Google's taxonomy-with-ids file")
        records.append((gid.strip(), joined.strip()))
    sid_of = {joined: sid for sid, joined in records}
    cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def chain(joined: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if joined in cache:
            return cache[joined]
        cut = joined.rfind(SEP)
        while cut > 0 and joined[:cut] not in sid_of:
            cut = joined.rfind(SEP, 0, cut)
        if cut > 0:
            names, sids = chain(joined[:cut])
            result = (names + (_safe_name(joined[cut + len(SEP):]),), sids + (sid_of[joined],))
        else:
            result = ((_safe_name(joined),), (sid_of[joined],))
        cache[joined] = result
        return result

    if not records:
        raise WorkbenchError(f"{p} holds no categories; use Google's taxonomy-with-ids file")
    paths, ids = zip(*(chain(joined) for _, joined in records))
    return _build("google", p, list(paths), list(ids), level_names,
                  version=_header_value(lines[:3], "Version"), language=locale)


# ----------------------------------------------------------------------------------------------
# Best Buy

def load_bestbuy(path: str | os.PathLike | None = None,
                 level_names: Sequence[str] | None = None) -> SourceTaxonomy:
    """Best Buy's category tree from ``categories.json`` (a list of ``{id, name, path, subCategories}``).

    The tree comes from each entry's ``path`` (its ancestors, top-down, with ids), so ancestors
    that have no entry of their own are still nodes; ``subCategories`` is not used (it lists
    some categories under a second parent). Names are stripped of surrounding spaces. An entry
    with a missing name is left out (``skipped``). Categories sharing one name path are merged
    into one node (``duplicates``).
    """
    p = _resolve("bestbuy", path, "bestbuy", "categories.json")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{p} is not valid JSON ({exc}); use Best Buy's categories.json") from None
    if not isinstance(data, list):
        raise WorkbenchError(f"{p}: expected a JSON list of categories with 'id', 'name', 'path'")
    paths, ids, skipped = [], [], []
    for i, entry in enumerate(data):
        try:
            chain = entry["path"]
            names = tuple(_safe_name(x["name"]) if x["name"] is not None else "" for x in chain)
            sids = tuple(str(x["id"]) for x in chain)
        except (KeyError, TypeError):
            raise WorkbenchError(f"{p}: entry {i} has no 'path' of {{id, name}}; "
                                 "use Best Buy's categories.json") from None
        if not names or any(not n for n in names):
            skipped.append(str(entry.get("id", i)))
            continue
        paths.append(names)
        ids.append(sids)
    if not paths:
        raise WorkbenchError(f"{p} holds no named categories; use Best Buy's categories.json")
    return _build("bestbuy", p, paths, ids, level_names, skipped=tuple(skipped))


# ----------------------------------------------------------------------------------------------
# Shopify's own mapping to Google

def load_shopify_google_mapping(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Shopify's official mapping of its categories onto Google's (``mappings.json``, 10,258
    rules of ``shopify/2024-04`` -> ``google/2021-09-21``): Shopify gid -> Google numeric id.

    A ground truth nobody here wrote: the taxonomy-mapping benchmark maps Google's tree onto
    Shopify's and checks each Google category's proposal against the Shopify categories
    that Shopify itself maps to it.
    """
    p = _resolve("shopify", path, "shopify", "mappings.json")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        blocks = data["mappings"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise WorkbenchError(f"{p} is not Shopify's mappings.json ({type(exc).__name__})") from None
    for block in blocks:
        if (str(block.get("input_taxonomy", "")).startswith("shopify/")
                and str(block.get("output_taxonomy", "")).startswith("google/")):
            return {str(r["input"]["product_category_id"]): str(r["output"]["product_category_id"])
                    for r in block.get("rules", [])}
    raise WorkbenchError(f"{p} has no shopify -> google mapping block")


# ----------------------------------------------------------------------------------------------
# dispatch

_LOADERS = {"shopify": load_shopify, "google": load_google, "bestbuy": load_bestbuy}
_OPTIONS = {"shopify": {"language"}, "google": {"locale"}, "bestbuy": set()}


def load_source(kind: str, path: str | os.PathLike | None = None,
                level_names: Sequence[str] | None = None, **options) -> SourceTaxonomy:
    """Load a public taxonomy by kind (``shopify``, ``google``, ``bestbuy``) with its source ids.

    ``options``: ``language=`` for Shopify, ``locale=`` for Google.
    """
    kind = str(kind).lower()
    if kind not in _LOADERS:
        raise WorkbenchError(f"unknown taxonomy kind {kind!r}; use one of {', '.join(KINDS)}")
    bad = set(options) - _OPTIONS[kind]
    if bad:
        raise WorkbenchError(f"the {kind} taxonomy takes no option {', '.join(sorted(bad))}; "
                             "Shopify takes language=, Google takes locale=")
    return _LOADERS[kind](path, level_names=level_names, **options)


def load_taxonomy_file(kind: str, path: str | os.PathLike | None = None,
                       level_names: Sequence[str] | None = None, **options) -> Taxonomy:
    """The :class:`Taxonomy` of a public category tree (see :func:`load_source` for the ids)."""
    return load_source(kind, path, level_names, **options).taxonomy
