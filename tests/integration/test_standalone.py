"""The repository stands alone: a clone has nothing beside it.

- No tracked file may point outside the repository at the design input the
  project started from (its parent directory's shared folder, or a design
  file there). This file builds those patterns by concatenation, so that
  it does not match itself.
- Every docs/<page>.md that a tracked file mentions exists, and every
  relative link of the Markdown files resolves to a tracked path.

The file list comes from `git ls-files`; outside a git checkout (a source
tarball) the checks are skipped, saying so."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

SRC = pathlib.Path(os.environ.get("HPT_SOURCE_DIR", pathlib.Path(__file__).parents[2])).resolve()

# Built, not written out, so that this file does not contain them.
PARENT = ".." + "/"
FORBIDDEN = (PARENT + "shared", "shared" + "/" + "DESIGN", "DESIGN" + ".md")

DOCS_PATH = re.compile(r"docs/[A-Za-z0-9_.-]+\.md")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files():
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot list the tracked files")
    listed = subprocess.run(["git", "-C", str(SRC), "ls-files", "-z"], capture_output=True)
    if listed.returncode != 0:
        pytest.skip(f"{SRC} is not a git checkout ({listed.stderr.decode(errors='replace').strip()}); "
                    "the standalone checks need `git ls-files`")
    names = [n for n in listed.stdout.decode().split("\0") if n]
    if not names:
        pytest.skip(f"no file under {SRC} is tracked by git")
    return names


def read_text(name):
    try:
        return (SRC / name).read_bytes().decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return ""  # deleted in the working tree, or a submodule


def test_no_tracked_file_reaches_outside():
    me = pathlib.Path(__file__).resolve()
    offenders = []
    for name in tracked_files():
        if (SRC / name).resolve() == me:
            continue
        text = read_text(name)
        for pattern in FORBIDDEN:
            for number, line in enumerate(text.splitlines(), 1):
                if pattern in line:
                    offenders.append(f"{name}:{number}: mentions '{pattern}': {line.strip()[:120]}")
    assert not offenders, ("tracked files point outside the repository:\n  "
                           + "\n  ".join(offenders))


def test_mentioned_docs_exist():
    names = tracked_files()
    tracked = set(names)
    missing = []
    for name in names:
        for number, line in enumerate(read_text(name).splitlines(), 1):
            for path in DOCS_PATH.findall(line):
                if path not in tracked:
                    missing.append(f"{name}:{number}: {path}")
    assert not missing, "docs pages mentioned but not in the repository:\n  " + "\n  ".join(missing)


def test_markdown_links_resolve():
    names = tracked_files()
    tracked = set(names)
    tracked_dirs = {str(pathlib.PurePosixPath(n).parent) for n in names}
    broken = []
    for name in names:
        if not name.endswith(".md"):
            continue
        base = pathlib.PurePosixPath(name).parent
        for number, line in enumerate(read_text(name).splitlines(), 1):
            for target in MARKDOWN_LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # a URL or an anchor on the same page
                path = target.split("#", 1)[0]
                resolved = os.path.normpath(str(base / path)).replace(os.sep, "/")
                if resolved not in tracked and resolved not in tracked_dirs:
                    broken.append(f"{name}:{number}: ({target}) -> {resolved}")
    assert not broken, "Markdown links to files that are not tracked:\n  " + "\n  ".join(broken)
