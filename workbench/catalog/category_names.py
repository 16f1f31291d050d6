"""Category names in the reader's language: Shopify's taxonomy in 21 languages.

Shopify's Open Product Taxonomy names its 10,282 categories in 21 languages
(``shopify/localizations_categories/<lang>.yml``). A workspace node is *Shopify's* when its id
is a Shopify path (a workspace whose taxonomy is Shopify's tree, for a cold start) or when the
catalog's node is mapped onto a Shopify node (``workbench map-taxonomy --to shopify``, table
``taxonomy_mappings``). Such a node can be shown in any of the languages, and found by its name
in any loaded language; a node without a translation (or not Shopify's) keeps its own name:
English is the fallback.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Iterable, Sequence

from workbench.catalog.pinned_taxonomy import pinned_spec
from workbench.catalog.taxonomy_sources import load_shopify
from workbench.errors import WorkbenchError
from workbench.paths import taxonomy_home
from workbench.store import Workspace

#: Shopify's languages (English first), as in ``localizations_categories/``.
LANGUAGES = ("en", "cs", "da", "de", "es", "fi", "fr", "it", "ja", "ko", "nb", "nl", "pl",
             "pt-BR", "pt-PT", "sv", "th", "tr", "vi", "zh-CN", "zh-TW")
LANGUAGE_NAMES = {
    "en": "English", "cs": "Čeština", "da": "Dansk", "de": "Deutsch", "es": "Español",
    "fi": "Suomi", "fr": "Français", "it": "Italiano", "ja": "日本語", "ko": "한국어",
    "nb": "Norsk bokmål", "nl": "Nederlands", "pl": "Polski", "pt-BR": "Português (Brasil)",
    "pt-PT": "Português (Portugal)", "sv": "Svenska", "th": "ไทย", "tr": "Türkçe",
    "vi": "Tiếng Việt", "zh-CN": "简体中文", "zh-TW": "繁體中文",
}
_LOCK = threading.Lock()


def available_languages() -> list[str]:
    """The languages whose Shopify names are in the taxonomy home (English always)."""
    folder = taxonomy_home() / "shopify" / "localizations_categories"
    found = {p.stem for p in folder.glob("*.yml")} if folder.is_dir() else set()
    return ["en"] + [code for code in LANGUAGES[1:] if code in found]


def check_language(language: str) -> str:
    """``language`` when Shopify names exist for it; a clear error listing the others."""
    if language not in available_languages():
        raise WorkbenchError(f"no Shopify category names in language {language!r}; use one of "
                             f"{', '.join(available_languages())}")
    return language


@lru_cache(maxsize=32)
def _shopify_paths(language: str) -> dict[str, str]:
    english = load_shopify()
    if language == "en":
        return {node: node for node in english.source_ids}
    local = load_shopify(language=language)
    by_id = {sid: node for node, sid in local.source_ids.items()}
    return {node: by_id.get(sid, node) for node, sid in english.source_ids.items()}


def shopify_paths(language: str) -> dict[str, str]:
    """English Shopify node id -> the same node's full path in ``language`` (untranslated
    names stay English). Loaded once per process and language (about 4 s)."""
    check_language(language)
    with _LOCK:
        return _shopify_paths(language)


def _mapped_to_shopify(ws: Workspace) -> dict[str, str]:
    """Catalog node -> its Shopify node, for nodes mapped with ``map-taxonomy --to shopify``."""
    if not ws.has_table("taxonomy_mappings"):
        return {}
    frame = ws.df("SELECT catalog_node, target_node FROM taxonomy_mappings WHERE target_kind = 'shopify'")
    return dict(zip(frame["catalog_node"], frame["target_node"]))


class CategoryNames:
    """Display names and search labels of a workspace's categories in chosen languages.

    ``language`` is the display language; ``search_languages`` the languages a search matches
    (the display language and English by default).
    """

    def __init__(self, ws: Workspace, language: str = "en", search_languages: Sequence[str] | None = None):
        self.language = check_language(language)
        langs = list(search_languages) if search_languages else [language, "en"]
        self.search_languages = list(dict.fromkeys(check_language(lang) for lang in langs))
        self.mapped = _mapped_to_shopify(ws)
        spec = pinned_spec(ws)
        self.pinned = spec is not None and spec["kind"] == "shopify"

    @property
    def active(self) -> bool:
        """Whether any node is Shopify's (else every name is the node's own, nothing is loaded)."""
        return self.pinned or bool(self.mapped)

    def shopify_node(self, node: str) -> str | None:
        """The Shopify node a workspace node is (or is mapped onto), if any."""
        if node in self.mapped:
            return self.mapped[node]
        return node if self.pinned and node in shopify_paths("en") else None

    def name(self, node: str, language: str | None = None) -> str:
        """The node's full path in ``language`` (default: the display language); a node that
        is not Shopify's, or not translated, keeps its own path."""
        language = language or self.language
        target = self.shopify_node(node)
        if target is None or language == "en" and target == node:
            return node
        local = shopify_paths(language).get(target, target)
        return local if target == node else f"{node} ({local})"

    def names(self, nodes: Iterable[str]) -> dict[str, str]:
        """``{node: display name}`` for many nodes."""
        return {node: self.name(node) for node in nodes}

    def search_label(self, node: str) -> str:
        """One line that a substring search matches in every search language: the display
        name first, then the other languages' names that differ from it."""
        seen: list[str] = []
        for language in [self.language] + self.search_languages:
            text = self.name(node, language)
            if text not in seen:
                seen.append(text)
        if node not in seen:
            seen.append(node)
        return "  ·  ".join(seen)

    def search_options(self, nodes: Iterable[str]) -> dict[str, str]:
        """``{search label: node}`` (unique labels) for a search box's options."""
        out: dict[str, str] = {}
        for node in nodes:
            label = self.search_label(node)
            out[label if label not in out else f"{label}  ·  {node}"] = node
        return out


def find_categories(options: dict[str, str], query: str, limit: int = 10) -> list[str]:
    """The nodes whose search label contains ``query`` (case-insensitive), as the review page's
    search box matches them, in label order."""
    q = str(query).strip().casefold()
    if not q:
        return []
    return [node for label, node in options.items() if q in label.casefold()][:limit]



def standard_search_options(kind: str, nodes: Iterable[str], languages: Sequence[str] = ("en",)) -> dict[str, str]:
    """``{label: node}`` for nodes of a standard tree: for Shopify the label holds the node's
    path in each of ``languages`` (so a search in any of them finds it); other trees are English."""
    if kind != "shopify":
        return {node: node for node in nodes}
    tables = [shopify_paths(lang) for lang in dict.fromkeys(languages)]
    out: dict[str, str] = {}
    for node in nodes:
        names = list(dict.fromkeys([t.get(node, node) for t in tables] + [node]))
        out["  ·  ".join(names)] = node
    return out
