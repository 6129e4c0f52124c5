"""The project's own page about its source documents, and the links into it.

``docs/documents.md`` describes the three documents; nothing in the repository may send a
reader or a program to the developers' copies of them, every equation of
``minicompress.equations.EQUATIONS`` is described there, and every link into the page lands
on a heading that exists.
"""

import re
import subprocess
from pathlib import Path

import pytest

from minicompress.equations import EQUATIONS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "documents.md"

# Spelled in pieces so that this file does not match itself.
FORBIDDEN = ("../" + "shared", "FORMULAS" + ".md", "shared" + "/seeds")


def tracked_files():
    """Every file git tracks (a fresh clone's files); every file outside hidden and build
    folders when the tree is not a git checkout (an unpacked sdist)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {"build", "dist", "__pycache__", "node_modules"}
        return [p for p in ROOT.rglob("*") if p.is_file()
                and not any(part.startswith(".") or part in skip or part.endswith(".egg-info")
                            for part in p.relative_to(ROOT).parts)]
    return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set:
    seen, out = {}, set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        m = re.match(r"#{1,6} (.+)", line)
        if m and not in_code:
            slug = github_slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.equations
def test_nothing_points_at_the_developers_copies_of_the_documents():
    offenders = []
    for path in tracked_files():
        data = path.read_bytes().lower()
        for needle in FORBIDDEN:
            if needle.lower().encode() in data:
                offenders.append(f"{path.relative_to(ROOT)} mentions {needle!r}")
    assert not offenders, "point readers at docs/documents.md instead:\n" + "\n".join(offenders)


@pytest.mark.equations
def test_every_equation_id_and_function_is_described():
    text = DOCUMENTS.read_text(encoding="utf-8")
    missing = [eid for eid in EQUATIONS if not re.search(rf"(?<![\w.]){re.escape(eid)}(?![\w.]*\w)", text)]
    assert not missing, f"docs/documents.md does not mention {missing}"
    unnamed = [f"{eid}: {fn.__name__}" for eid, fn in EQUATIONS.items() if f"`{fn.__name__}" not in text]
    assert not unnamed, f"docs/documents.md does not name the as-written function of {unnamed}"
    for n in range(1, 10):
        assert re.search(rf"^## E{n}: ", text, re.M), f"docs/documents.md has no section for E{n}"


@pytest.mark.equations
def test_links_into_the_documents_page_land_on_a_heading():
    targets = anchors(DOCUMENTS.read_text(encoding="utf-8"))
    broken = []
    for path in tracked_files():
        if path.suffix not in {".py", ".md", ".txt", ".toml", ".cfg", ".rst"}:
            continue
        text = path.read_text(encoding="utf-8")
        links = re.findall(r"documents\.md#([\w\-]+)", text)
        if path == DOCUMENTS:
            links += re.findall(r"\]\(#([\w\-]+)\)", text)
        broken += [f"{path.relative_to(ROOT)}: #{a}" for a in links if a not in targets]
    assert not broken, "links to headings that docs/documents.md does not have:\n" + "\n".join(broken)


@pytest.mark.equations
def test_relative_links_of_the_documents_page_exist():
    text = DOCUMENTS.read_text(encoding="utf-8")
    missing = [target for target in re.findall(r"\]\((\.\./[^)#]+)", text)
               if not (DOCUMENTS.parent / target).resolve().exists()]
    assert not missing, f"docs/documents.md links to files that do not exist: {missing}"
