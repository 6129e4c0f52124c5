"""The project's own page about its source documents, and the links into it.

``docs/documents.md`` describes the three documents; nothing in the repository may send a
reader or a program to the developers' copies of them, every equation of
``minicompress.equations.EQUATIONS`` is described there, and every link into the page lands
on a heading that exists. The tutorials end with their chapter's course tasks and a typical
mistake, both checked against what minicompress gives now.
"""

import re
import subprocess
from pathlib import Path

import pytest

from minicompress.equations import EQUATIONS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "documents.md"

# Spelled in pieces so that this file does not match itself. The last three are the developers'
# file names of doc 000, doc 001 and doc 002: the project cites "doc 001 §3.2.3" instead.
FORBIDDEN = ("../" + "shared", "FORMULAS" + ".md", "shared" + "/seeds",
             "aa1905e9" + "34bb7dd4", "3806f238" + "3fce931b", "bbe1d819" + "6fd62395")


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
    assert not offenders, ("cite the documents as 'doc 00N §x' and point readers at docs/documents.md:\n"
                           + "\n".join(offenders))


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
def test_every_minicompress_name_on_the_documents_page_exists():
    import importlib

    missing = []
    for dotted in sorted(set(re.findall(r"`(minicompress(?:\.\w+)+)", DOCUMENTS.read_text(encoding="utf-8")))):
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        for name in parts[i:]:
            if not hasattr(obj, name):
                missing.append(dotted)
                break
            obj = getattr(obj, name)
    assert not missing, f"docs/documents.md names what minicompress does not have: {missing}"


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


# ------------------------------------------------------------------ the tutorials' exercises
# Each tutorial ends with its chapter's exercises. The part that lists the tasks and the
# commands sits between two HTML comments and is generated from the course registry; the
# typical mistake's output is what ``minicompress check`` prints for the code shown. The tests
# below fail when either differs from what the registry and the check give now, and
# ``python tests/test_docs.py --write`` brings both up to date.

TUTORIALS = ROOT / "tutorials"
START, END = "# <!-- exercises:start -->", "# <!-- exercises:end -->"

# Tutorial number -> the course chapters whose tasks it ends with, and the documents'
# equations (checked in the "equations" chapter) that the tutorial teaches.
TUTORIAL_CHAPTERS = {
    "01": (("engine",), ()),
    "02": (("optim",), ()),
    "03": (("equations",), ("E1",)),
    "04": (("quantization", "equations"), ("E2", "E4", "E6")),
    "05": (("pruning", "equations"), ("E3", "E5")),
    "06": (("distillation", "equations"), ("E7", "E8")),
    "07": ((), ()),
    "08": (("deep_compression",), ()),
    "09": (("kernels",), ()),
}


def equation_of(task):
    """The documents' equation a task of the "equations" chapter checks ("E6" for E6.inverse)."""
    for name in (task.name, *(alias for alias, _ in task.aliases)):
        m = re.match(r"E(\d)", name)
        if m:
            return f"E{m.group(1)}"
    raise AssertionError(f"{task.id}: no E-id in its name or aliases")


def tutorial_tasks(number):
    """The tasks a tutorial's exercises list, in registry order, grouped by chapter."""
    from minicompress.course import tasks_in

    chapters, equations = TUTORIAL_CHAPTERS[number]
    out = []
    for chapter in chapters:
        tasks = tasks_in(chapter)
        if chapter == "equations":
            tasks = [t for t in tasks if equation_of(t) in equations]
        out.append((chapter, tasks))
    return out


def _cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def exercises_block(number):
    """The generated part of a tutorial's ending: its tasks and the commands that check them."""
    lines = [START]
    for chapter, tasks in tutorial_tasks(number):
        if not tasks:
            continue
        # a tutorial teaches some of the documents' equations: check those alone, by their E-ids
        only = " ".join(f"--task {t.aliases[0][0]}" for t in tasks) if chapter == "equations" else ""
        select = ' -k "' + " or ".join(t.name for t in tasks) + '"' if chapter == "equations" else ""
        lines += ["#", f"# **{chapter}**: write these functions ({len(tasks)} tasks)", "#",
                  "# | task | write | also accepted as |", "# |---|---|---|"]
        for t in tasks:
            summary = t.doc.strip().split("\n\n")[0].rstrip(":")
            aliases = ", ".join(f"`{a}` ({src})" for a, src in t.aliases) or "–"
            lines.append(f"# | `{t.id}` | `{_cell(t.signature)}`: {_cell(summary)} | {_cell(aliases)} |")
        check = f"minicompress check my_exercises/{chapter}.py --chapter {chapter}" + (f" {only}" if only else "")
        lines += ["#", "# ```bash",
                  f"# minicompress exercises --chapter {chapter} --out my_exercises   # one stub per task",
                  f"# {check}",
                  f"# python -m pytest -m {chapter} --candidate my_exercises/{chapter}.py{select}",
                  "# ```"]
    lines.append(END)
    return "\n".join(lines)


def tutorial_path(number):
    matches = sorted(TUTORIALS.glob(f"{number}_*.py"))
    assert len(matches) == 1, f"expected one tutorials/{number}_*.py, found {matches}"
    return matches[0]


def current_block(text):
    if START not in text:
        return None
    start = text.index(START)
    return text[start:text.index(END, start) + len(END)]


TAUGHT = [n for n, (chapters, _) in TUTORIAL_CHAPTERS.items() if chapters]
"""The tutorials whose chapters have course tasks (all but 07, transfer learning)."""


def write_blocks():
    for number in TAUGHT:
        path = tutorial_path(number)
        text = path.read_text(encoding="utf-8")
        old = current_block(text)
        assert old is not None, f"{path.name}: put the two markers {START!r} and {END!r} in its last cell"
        path.write_text(text.replace(old, exercises_block(number)), encoding="utf-8")


def _last_section(text):
    return text[text.rindex("# ## "):]


@pytest.mark.tutorials
@pytest.mark.parametrize("number", sorted(TUTORIAL_CHAPTERS))
def test_tutorial_ends_with_its_chapters_exercises(number):
    path = tutorial_path(number)
    text = path.read_text(encoding="utf-8")
    ending = _last_section(text)
    assert ending.startswith("# ## Exercises"), f"{path.name}: the last section is not its exercises"
    chapters, _ = TUTORIAL_CHAPTERS[number]
    listed = re.findall(r"`((?:engine|optim|equations|quantization|pruning|distillation|deep_compression|kernels)"
                        r"\.[\w.]+)`", ending)
    expected = [t.id for _, tasks in tutorial_tasks(number) for t in tasks]
    if not chapters:
        assert not listed, f"{path.name} lists tasks {listed}, but its chapter has none"
        return
    block = current_block(ending)
    assert block is not None, f"{path.name}: its exercises have no generated task list ({START!r} ... {END!r})"
    assert block == exercises_block(number), (
        f"{path.name}'s task list differs from the course registry; run `python tests/test_docs.py --write`.\n"
        f"listed: {listed}\nregistry: {expected}")
    assert sorted(set(listed)) == sorted(expected), f"{path.name} names {listed}; its tasks are {expected}"


@pytest.mark.tutorials
def test_every_task_is_in_exactly_one_tutorial():
    from minicompress.course import tasks_in

    listed = [t.id for n in TUTORIAL_CHAPTERS for _, tasks in tutorial_tasks(n) for t in tasks]
    every = [t.id for t in tasks_in()]
    assert sorted(listed) == sorted(every), (
        f"not in a tutorial: {sorted(set(every) - set(listed))}; twice: {sorted({i for i in listed if listed.count(i) > 1})}")


def _typical_mistake(ending):
    """(python code, command, printed lines) of a tutorial's "typical mistake", or None."""
    m = re.search(r"\*\*A typical mistake\*\*.*?# ```python\n(.*?)# ```\n.*?`(minicompress check [^`]+)` prints"
                  r".*?# ```\n(.*?)# ```", ending, re.S)
    if m is None:
        return None
    code, command, printed = (re.sub(r"^# ?", "", part, flags=re.M) for part in m.groups())
    return code, command, [line for line in printed.splitlines() if line.strip()]


def _timeless(line):
    return re.sub(r" in \d+(\.\d+)? s$", " in … s", line.rstrip())


def run_typical_mistake(number, folder):
    """Run a tutorial's typical mistake through the command it shows, in ``folder``.

    Returns (the printed block as it appears in the tutorial, the check's stdout, its exit code).
    """
    import sys

    found = _typical_mistake(_last_section(tutorial_path(number).read_text(encoding="utf-8")))
    assert found is not None, f"tutorial {number} shows no typical mistake with its output"
    code, command, printed = found
    words = command.split()
    assert words[:2] == ["minicompress", "check"], command
    learner = Path(folder) / words[2]
    learner.parent.mkdir(parents=True, exist_ok=True)
    learner.write_text("import numpy as np\n\n\n" + code, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", "import sys; from minicompress.cli.main import main; sys.exit(main())",
                           *words[1:]], cwd=folder, capture_output=True, text=True, timeout=300)
    return printed, proc.stdout, proc.returncode, proc.stderr


@pytest.mark.tutorials
@pytest.mark.slow
@pytest.mark.parametrize("number", TAUGHT)
def test_the_typical_mistake_prints_what_the_tutorial_shows(number, tmp_path):
    """The mistake's code, run through the command the tutorial gives, prints what it pastes."""
    printed, stdout, code, stderr = run_typical_mistake(number, tmp_path)
    assert code == 1, (code, stdout[-2000:], stderr[-2000:])
    actual = [_timeless(line) for line in stdout.splitlines() if line.strip()]
    assert [_timeless(line) for line in printed] == actual, (
        f"tutorial {number} shows another output than the check prints now "
        f"(`python tests/test_docs.py --write` pastes it):\n" + stdout)


def write_typical_mistakes():
    import tempfile

    for number in TAUGHT:
        path = tutorial_path(number)
        text = path.read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as folder:
            _, stdout, code, stderr = run_typical_mistake(number, folder)
        assert code == 1, (number, code, stdout, stderr)
        start = text.rindex("**A typical mistake**")
        m = re.compile(r"(`minicompress check [^`]+` prints[^\n]*\n#\n# ```\n)(.*?)(# ```)", re.S).search(text, start)
        pasted = "".join(("# " + line).rstrip() + "\n" if line else "#\n" for line in stdout.rstrip("\n").splitlines())
        path.write_text(text[:m.start(2)] + pasted + text[m.end(2):], encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_docs.py --write   (regenerates the tutorials' task lists and "
                 "re-pastes what their typical mistakes print)")
    write_blocks()
    write_typical_mistakes()
