"""The README's layout table ("The pipeline") names every module of pipeline/, in the row of
its folder, and no module that does not exist: a newcomer finds any stage in one hop."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_rows() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(pipeline/[a-z_/]*)`\s*\|[^|]*\|(.*)\|\s*$", line)
        if m:
            # module names are the back-quoted bare words; drop parenthesised explanations
            modules = m.group(2)
            while re.search(r"\([^()]*\)", modules):  # nested ( ) too
                modules = re.sub(r"\([^()]*\)", "", modules)
            rows[m.group(1).rstrip("/") + "/"] = set(re.findall(r"`([a-z_]+)`", modules))
    return rows


def test_the_layout_table_names_every_module_in_its_folder_row():
    rows = layout_rows()
    folders = {"pipeline/"} | {f"pipeline/{p.name}/" for p in (ROOT / "pipeline").iterdir()
                               if p.is_dir() and (p / "__init__.py").exists()}
    assert set(rows) == folders, f"README layout rows {sorted(rows)} vs folders {sorted(folders)}"
    for folder, named in rows.items():
        modules = {p.stem for p in (ROOT / folder).glob("*.py") if p.stem != "__init__"}
        assert named == modules, (
            f"README layout row {folder}: missing {sorted(modules - named)}, "
            f"not in the tree {sorted(named - modules)}")


def test_the_text_around_the_table_names_existing_paths():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The pipeline", 1)[1].split("\n## ", 1)[0]
    for path in re.findall(r"`((?:pipeline|callqa|flows)/[A-Za-z_/]+(?:\.py)?)`", section):
        assert (ROOT / path).exists(), f"README 'The pipeline' names {path}, which does not exist"


def test_the_library_never_imports_the_app():
    """pipeline/ is the library: the CLI, the web app and its users (callqa/) build on it, not the
    other way round (what the library needs from them is passed in)."""
    importing = re.compile(r"^\s*(?:from|import)\s+callqa\.(?:web|users|commands|cli)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "pipeline").rglob("*.py")
                 if importing.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], f"library modules importing the app: {offenders}"
