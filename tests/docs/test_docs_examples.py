"""The ```python blocks of README.md and docs/*.md compile, and those that make apps run.

The rules, in the order they apply:

1. **Every block compiles.** Top-level ``await`` is allowed, since snippets show calls made
   from async code.
2. **Fragments are only compiled.** A block is a fragment when the line just before its fence
   is ``<!-- doc-test: fragment -->`` (invisible on the rendered page: use it for signatures
   and for snippets that need context the page does not give), or when it has a top-level
   ``await`` (it cannot be a module).
3. **Blocks that make an app are imported.** A block that creates an app (``Durable(``)
   starts a *chain*: it is written to a temporary ``.py`` file and imported with importlib
   (never ``exec`` of a string). Each later non-fragment block of the same page continues
   the chain: it is imported appended to the chain's blocks, so it may use ``app`` and the
   helpers defined above it, as the reader does. Blocks that import their ``app`` from
   elsewhere (``from shop import app``: the reader's own project) and blocks before any app
   on the page are only compiled.
4. **Named files.** A block whose first line is ``# NAME.py`` is a file of its own: it is
   written as ``NAME.py`` in a temporary folder on ``sys.path`` (so later blocks of the page
   can ``import NAME``) and imported alone; if it makes an app, it starts the chain.
5. **Doc tests run.** After a block is imported, the module-level ``test_*`` functions that
   the block itself defines (taking no arguments) are called, ``async`` ones with
   ``asyncio.run``: the testing examples must pass as written.

So an example with an unknown option, a misspelt name or a wrong assertion fails here.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENT_MARKER = "<!-- doc-test: fragment -->"
_OPEN = re.compile(r"^( *)```python\b")
_NAMED_FILE = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)\.py\s*$")


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, its code, and how it is checked."""

    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    marked_fragment: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """``NAME`` when the block's first line is ``# NAME.py``."""
        first = self.code.split("\n", 1)[0]
        found = _NAMED_FILE.match(first.strip())
        return found[1] if found else None

    @property
    def makes_app(self) -> bool:
        return "Durable(" in self.code

    @property
    def imports_app(self) -> bool:
        """Whether a top-level import binds the name ``app`` (``from shop import app``)."""
        try:
            tree = ast.parse(self.code)
        except SyntaxError:
            return False
        return any(
            (alias.asname or alias.name).split(".")[0] == "app"
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        )

    @property
    def fragment(self) -> bool:
        return self.marked_fragment or _has_top_level_await(self.code)


def _has_top_level_await(code: str) -> bool:
    try:
        compile(code, "<doc>", "exec", dont_inherit=True)
    except SyntaxError:
        return True  # it compiles only with top-level await (test_compiles checks that)
    return False


def _blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if opening:
            indent = len(opening[1])  # a fence inside a list item is indented
            start, body = i, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
                i += 1
            marked = start > 0 and lines[start - 1].strip() == FRAGMENT_MARKER
            blocks.append(Block(page, start + 1, "\n".join(body) + "\n", marked))
        i += 1
    return blocks


@dataclass(frozen=True)
class Plan:
    """How to import one non-fragment block."""

    block: Block
    chain: tuple[Block, ...]  # the blocks to import together, ending with ``block``
    files: tuple[Block, ...]  # the page's named-file blocks up to ``block``


def _plans() -> list[Plan]:
    plans = []
    for page in PAGES:
        chain: list[Block] = []
        files: list[Block] = []
        for block in _blocks(page):
            if block.fragment:
                continue
            if block.file_name is not None:
                files.append(block)
                plans.append(Plan(block, (block,), tuple(files)))
                if block.makes_app:
                    chain = [block]
                continue
            if block.makes_app:
                chain = [block]
            elif chain and not block.imports_app:
                chain.append(block)
            else:
                continue  # compile only: it needs the reader's project, or no app is in scope
            plans.append(Plan(block, tuple(chain), tuple(files)))
    return plans


ALL_BLOCKS = [block for page in PAGES for block in _blocks(page)]
PLANS = _plans()


def test_the_pages_have_examples() -> None:
    assert len(ALL_BLOCKS) > 10
    assert PLANS, "no block is imported: the rules above found nothing to run"


@pytest.mark.parametrize(
    ("page", "module"), [("api.md", "durable"), ("testing.md", "durable.testing")]
)
def test_the_reference_names_every_public_name(page: str, module: str) -> None:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    public = importlib.import_module(module).__all__
    missing = [name for name in public if not name.startswith("_") and f"`{name}" not in text]
    assert not missing, f"docs/{page} does not mention {missing} from {module}.__all__"


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.where for b in ALL_BLOCKS])
def test_compiles(block: Block) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        compile(block.code, block.where, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:
        pytest.fail(f"{block.where}: the example does not compile: {exc}")


def _source(blocks: tuple[Block, ...]) -> str:
    return "\n\n".join(f"# --- {b.where}\n{b.code}" for b in blocks)


def _test_functions(block: Block) -> list[str]:
    tree = ast.parse(block.code)
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
        and not (node.args.args or node.args.posonlyargs or node.args.kwonlyargs)
    ]


@pytest.mark.parametrize("plan", PLANS, ids=[p.block.where for p in PLANS])
def test_runs(plan: Plan, tmp_path: Path) -> None:
    names = []
    for named in plan.files:
        name = named.file_name
        assert name is not None
        (tmp_path / f"{name}.py").write_text(named.code, encoding="utf-8")
        names.append(name)
    module_name = f"_doc_example_{plan.block.page.stem.replace('-', '_')}_{plan.block.line}"
    path = tmp_path / f"{module_name}.py"
    path.write_text(_source(plan.chain), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
            for test_name in _test_functions(plan.block):
                result = getattr(module, test_name)()
                if inspect.iscoroutine(result):
                    asyncio.run(result)
        except Exception as exc:
            exc.add_note(f"in the example at {plan.block.where} (imported as {path})")
            raise
    finally:
        sys.path.remove(str(tmp_path))
        for name in [module_name, *names]:
            sys.modules.pop(name, None)
