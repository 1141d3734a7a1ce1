"""Scoring-script lint: v1-only APIs and layouts that break or mislead on a v2 deployment.

An AST pass (no import, no execution) over each Python file of the code bundle. Every finding
names the file, the line and the v2 replacement (user-needs P2). Names are resolved through the
file's imports, so aliases (`from azureml.core.model import Model as M`, `import azureml.core as
aml`) are caught, and a local class that happens to be called `Model` is not.

Replacements were checked against the azureml-inference-server-http 1.5.1 wheel: `rawhttp` and
`AMLRequest` live in `azureml_inference_server_http/api/aml_request.py`, `AMLResponse` in
`azureml_inference_server_http/api/aml_response.py`. Since 1.4.1 the server also aliases the two
submodule names `azureml.contrib.services.aml_request`/`aml_response` in `sys.modules`
(`server/__init__.py`), so `from azureml.contrib.services.aml_request import X` still works there
while `from azureml.contrib.services import aml_request` and `import azureml.contrib...` fail.

Not flagged: `run(data, request_headers)`. The v2 server passes the request headers itself when
`run()` has a `request_headers` parameter (1.5.1 `server/user_script.py`), as the v1 wrapper did.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

MODEL_DIR = 'os.environ["AZUREML_MODEL_DIR"]'
API_REQUEST = "azureml_inference_server_http.api.aml_request"
API_RESPONSE = "azureml_inference_server_http.api.aml_response"
_CONTRIB = "azureml.contrib.services"
_MODEL = frozenset({"azureml.core.Model", "azureml.core.model.Model"})
_RUN = frozenset({"azureml.core.Run", "azureml.core.run.Run"})
_WORKSPACE = frozenset({"azureml.core.Workspace", "azureml.core.workspace.Workspace"})
# What `from <module> import *` binds, for the modules that matter here.
_STAR = {
    "azureml.core": ("Model", "Run", "Workspace"),
    "azureml.core.model": ("Model",),
    "azureml.core.run": ("Run",),
    "azureml.core.workspace": ("Workspace",),
    f"{_CONTRIB}.aml_request": ("AMLRequest", "rawhttp"),
    f"{_CONTRIB}.aml_response": ("AMLResponse",),
}
# Canonical v1 names assumed when a script uses them without any binding.
_IMPLICIT = {name: f"azureml.core.{name}" for name in ("Model", "Run", "Workspace")}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_LAYOUT = re.compile(r"azureml-models(?:[/\\]|$)")


@dataclass(frozen=True)
class LintFinding:
    path: str  # relative path in the bundle
    line: int
    code: str
    message: str  # what was found and the v2 replacement, one sentence


def lint_files(files: dict[str, bytes]) -> list[LintFinding]:
    """Lint every `*.py` file of a bundle; findings sorted by (path, line, code)."""
    findings = [
        f for path, data in files.items() if path.endswith(".py") for f in lint_source(path, data)
    ]
    return sorted(findings, key=_order)


def lint_source(path: str, source: bytes) -> list[LintFinding]:
    """Findings for one file; unreadable or unparsable source is a finding, never an exception."""
    text = _decode(path, source)
    if isinstance(text, LintFinding):
        return [text]
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        return [_syntax_error(path, error.lineno or 1, error.msg)]
    except (ValueError, RecursionError) as error:  # NUL bytes, absurd nesting
        return [_syntax_error(path, 1, str(error) or type(error).__name__)]
    return sorted(_Linter(path, tree).run(), key=_order)


def _order(finding: LintFinding) -> tuple[str, int, str, str]:
    return (finding.path, finding.line, finding.code, finding.message)


def _syntax_error(path: str, line: int, what: str) -> LintFinding:
    return LintFinding(
        path,
        line,
        "syntax-error",
        f"cannot be parsed ({what}): the server imports the scoring script as Python, so the "
        "deployment would fail at start-up; fix the syntax",
    )


def _decode(path: str, source: bytes) -> str | LintFinding:
    """Text decoded as Python does (BOM, coding cookie, else UTF-8), or a finding."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as error:  # an unknown or contradictory coding declaration
        return LintFinding(
            path,
            error.lineno or 1,
            "encoding-error",
            f"has an invalid coding declaration ({error.msg}); save it as UTF-8",
        )
    try:
        return source.decode(encoding)
    except UnicodeDecodeError as error:
        line = source[: error.start].count(b"\n") + 1
        return LintFinding(
            path,
            line,
            "encoding-error",
            f"is not valid {encoding} text (byte 0x{source[error.start]:02x}); Python cannot "
            "import it: save it as UTF-8",
        )


class _Linter:
    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.bindings: dict[str, str] = {}  # local name -> qualified name, from imports
        self.defined: set[str] = set()  # names bound locally (classes, functions, assignments)
        self.findings: dict[tuple[int, str], LintFinding] = {}

    def run(self) -> list[LintFinding]:
        nodes = list(ast.walk(self.tree))
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._bind_import(node)
        for node in sorted(
            (n for n in nodes if isinstance(n, (ast.Assign, ast.ClassDef, *_FUNCTIONS))),
            key=lambda n: n.lineno,
        ):
            self._bind_local(node)
        docstrings = _docstrings(nodes)
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._check_import(node)
            elif isinstance(node, ast.Call):
                self._check_call(node)
            elif isinstance(node, _FUNCTIONS):
                self._check_decorators(node)
            elif isinstance(node, ast.Constant) and id(node) not in docstrings:
                self._check_string(node)
        return list(self.findings.values())

    def add(self, line: int, code: str, message: str) -> None:
        # One finding per line and code: `from azureml import core, contrib` still gives two.
        self.findings.setdefault((line, code), LintFinding(self.path, line, code, message))

    # --- name resolution ------------------------------------------------------------------------

    def _bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.bindings[alias.asname] = alias.name
                else:  # `import a.b.c` binds `a`
                    top = alias.name.split(".")[0]
                    self.bindings[top] = top
            return
        if node.level or node.module is None:
            return  # relative imports are the bundle's own modules
        for alias in node.names:
            if alias.name == "*":
                for name in _STAR.get(node.module, ()):
                    self.bindings[name] = f"{node.module}.{name}"
            else:
                self.bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _bind_local(
        self, node: ast.Assign | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        if isinstance(node, (ast.ClassDef, *_FUNCTIONS)):
            self.defined.add(node.name)
            return
        value = self.qualify(node.value)
        for target in node.targets:
            if not isinstance(target, ast.Name):
                continue
            if value is not None and value.startswith("azureml."):
                self.bindings[target.id] = value  # `Model = azureml.core.Model`
            else:
                self.defined.add(target.id)

    def qualify(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to, through imports; None if not a name."""
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, ast.Name):
            if node.id in self.bindings:
                return self.bindings[node.id]
            if node.id in self.defined:
                return f"<local>.{node.id}"
            return _IMPLICIT.get(node.id, node.id)
        return None

    # --- checks ---------------------------------------------------------------------------------

    def _check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._check_module(node.lineno, alias.name, alias.name, None)
        elif not node.level and node.module is not None:
            for alias in node.names:
                # `from azureml import core` imports azureml.core: classify the full name, show
                # the module when it already says it all.
                self._check_module(node.lineno, f"{node.module}.{alias.name}", node.module, node)

    def _check_module(self, line: int, name: str, module: str, node: ast.ImportFrom | None) -> None:
        def shown(package: str) -> str:
            return module if _within(module, package) else name

        if _within(name, "azureml.core"):
            self.add(
                line,
                "azureml-core-import",
                f"imports {shown('azureml.core')} (azureml-core, the v1 SDK), which a v2 scoring "
                f"script does not need and v2 images do not include; load the model from "
                f"{MODEL_DIR} instead",
            )
        elif _within(name, _CONTRIB):
            self.add(line, "azureml-contrib-services", _contrib_message(shown(_CONTRIB), node))
        elif _within(name, "azureml.contrib"):
            self.add(
                line,
                "azureml-contrib-import",
                f"imports {shown('azureml.contrib')}, a v1 experimental package that v2 images do "
                "not include; remove the dependency",
            )
        elif _within(name, "azureml.monitoring"):
            self.add(
                line,
                "azureml-monitoring-import",
                f"imports {shown('azureml.monitoring')} (v1 ModelDataCollector); v2 collects "
                "inference data with azureml-ai-monitoring (`from azureml.ai.monitoring import "
                "Collector`) and the deployment's data collector settings",
            )

    def _check_call(self, node: ast.Call) -> None:
        name = self.qualify(node.func)
        if name is None:
            return
        owner, _, attr = name.rpartition(".")
        func = ast.unparse(node.func)
        callee = func + ("(...)" if node.args or node.keywords else "()")
        if owner in _MODEL and attr == "get_model_path":
            model = _model_name(node)
            shown = f"{func}({model!r})" if model else callee
            which = f" of model {model!r}" if model else ""
            self.add(
                node.lineno,
                "model-get-model-path",
                # The expression in backticks: the report shows it as one code span.
                f"{shown} needs azureml-core and the v1 model store; use `os.path.join("
                f'{MODEL_DIR}, "<relative path>")` where <relative path> is the file or folder'
                f"{which} as registered (a v2 deployment mounts its one model there)",
            )
        elif owner in _RUN and attr == "get_context":
            self.add(
                node.lineno,
                "run-get-context",
                f"{callee} is the v1 run-logging API and a v2 deployment has no run; log with "
                "the logging module (it reaches the deployment logs) and drop the call",
            )
        elif name in _WORKSPACE or owner in _WORKSPACE:
            self.add(
                node.lineno,
                "workspace-object",
                f"{callee} connects to a v1 workspace (azureml-core, config.json or "
                "credentials) that a v2 deployment does not have; ship what the script needs "
                "with the model or code, or use azure-ai-ml's MLClient with the endpoint identity",
            )

    def _check_decorators(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = self.qualify(target)
            if name is not None and _within(name, _CONTRIB) and name.endswith(".rawhttp"):
                self.add(
                    decorator.lineno,
                    "rawhttp-decorator",
                    f"@rawhttp comes from {_CONTRIB}: import it from {API_REQUEST}; since server "
                    "1.4.0 request.json raises unless Content-Type is application/json and "
                    "request.headers.has_keys() is gone",
                )

    def _check_string(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or not _LAYOUT.search(node.value):
            return
        shown = node.value if len(node.value) <= 60 else node.value[:57] + "..."
        self.add(
            node.lineno,
            "v1-model-layout",
            f"{shown!r} hard-codes the v1 model store layout (azureml-models/<name>/<version>), "
            f"whose name and version change in v2; build the path from {MODEL_DIR} (a model "
            "registered from a folder sits in AZUREML_MODEL_DIR/<folder name>)",
        )


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _contrib_message(module: str, node: ast.ImportFrom | None) -> str:
    names = [a.name for a in node.names] if node is not None else []
    request = [n for n in names if n in ("AMLRequest", "rawhttp")]
    response = [n for n in names if n == "AMLResponse"]
    if not request and not response:  # `import ...` or a module import: show both homes
        replacement = (
            f"`from {API_REQUEST} import AMLRequest, rawhttp` and "
            f"`from {API_RESPONSE} import AMLResponse`"
        )
    else:
        parts = [f"`from {API_REQUEST} import {', '.join(request)}`"] if request else []
        parts += [f"`from {API_RESPONSE} import AMLResponse`"] if response else []
        replacement = " and ".join(parts)
    aliased = module in (f"{_CONTRIB}.aml_request", f"{_CONTRIB}.aml_response") and node is not None
    works = (
        "works only through an alias that azureml-inference-server-http 1.4.1+ installs"
        if aliased
        else "fails on v2 images (ModuleNotFoundError: azureml.contrib)"
    )
    return f"imports {module} (v1 azureml-contrib-services), which {works}; use {replacement}"


def _model_name(node: ast.Call) -> str | None:
    """The model name argument when it is a string literal."""
    candidates = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "model_name")]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


def _docstrings(nodes: list[ast.AST]) -> set[int]:
    found: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found
