"""Scoring-script lint: each v1 pattern at its exact line, aliases, and no false positives."""

from __future__ import annotations

import textwrap

import pytest

from generator.assets.lint import LintFinding, lint_files, lint_source


def lint(code: str, path: str = "score.py") -> list[LintFinding]:
    return lint_source(path, textwrap.dedent(code).lstrip("\n").encode("utf-8"))


def lines(findings: list[LintFinding]) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in findings]


V1_SCRIPT = """
    import json
    import os

    import azureml.core
    from azureml.core.model import Model
    from azureml.core import Run, Workspace
    from azureml.contrib.services.aml_request import AMLRequest, rawhttp
    from azureml.contrib.services.aml_response import AMLResponse


    def init():
        global model
        path = Model.get_model_path("sklearn_mnist")
        run = Run.get_context()
        ws = Workspace.from_config()
        other = Workspace(subscription_id="s", resource_group="g", workspace_name="w")
        fallback = "/var/azureml-app/azureml-models/sklearn_mnist/1/model.pkl"


    @rawhttp
    def run(request):
        return AMLResponse(json.dumps({"ok": True}), 200)
"""


def test_v1_script_every_pattern_at_its_line() -> None:
    assert lines(lint(V1_SCRIPT)) == [
        (4, "azureml-core-import"),
        (5, "azureml-core-import"),
        (6, "azureml-core-import"),
        (7, "azureml-contrib-services"),
        (8, "azureml-contrib-services"),
        (13, "model-get-model-path"),
        (14, "run-get-context"),
        (15, "workspace-object"),
        (16, "workspace-object"),
        (17, "v1-model-layout"),
        (20, "rawhttp-decorator"),
    ]


def test_get_model_path_message_names_the_model_and_the_replacement() -> None:
    (finding,) = [f for f in lint(V1_SCRIPT) if f.code == "model-get-model-path"]
    assert "Model.get_model_path('sklearn_mnist')" in finding.message
    assert 'os.path.join(os.environ["AZUREML_MODEL_DIR"], "<relative path>")' in finding.message
    assert finding.path == "score.py"


def test_contrib_messages_name_the_server_modules() -> None:
    request, response = [f for f in lint(V1_SCRIPT) if f.code == "azureml-contrib-services"]
    assert (
        "from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp"
        in request.message
    )
    assert "from azureml_inference_server_http.api.aml_response import AMLResponse" in (
        response.message
    )
    assert "alias" in request.message  # the submodule form still works on server 1.4.1+


def test_contrib_package_import_is_reported_as_failing() -> None:
    (finding,) = lint("from azureml.contrib.services import aml_request\n")
    assert finding.code == "azureml-contrib-services"
    assert "fails on v2 images" in finding.message


@pytest.mark.parametrize(
    "code",
    [
        "from azureml.core.model import Model as M\np = M.get_model_path('m')\n",
        "import azureml.core as aml\np = aml.Model.get_model_path('m')\n",
        "import azureml.core.model as mm\np = mm.Model.get_model_path('m')\n",
        "import azureml.core\np = azureml.core.Model.get_model_path('m')\n",
        "import azureml\nimport azureml.core\np = azureml.core.model.Model.get_model_path('m')\n",
        "from azureml import core\np = core.Model.get_model_path(model_name='m')\n",
        "from azureml.core import *\np = Model.get_model_path('m')\n",
        "import azureml.core\nModel = azureml.core.Model\np = Model.get_model_path('m')\n",
        "p = Model.get_model_path('m')\n",  # no import at all: the v1 name
    ],
)
def test_get_model_path_through_aliases(code: str) -> None:
    findings = lint(code)
    (call,) = [f for f in findings if f.code == "model-get-model-path"]
    assert call.line == code.count("\n")
    assert "'m'" in call.message


def test_get_model_path_without_literal_name() -> None:
    (_, call) = lint("from azureml.core import Model\np = Model.get_model_path(name)\n")
    assert (call.line, call.code) == (2, "model-get-model-path")
    assert "Model.get_model_path(...)" in call.message


def test_run_and_workspace_through_aliases() -> None:
    code = """
        from azureml.core.run import Run as R
        import azureml.core as aml

        ctx = R.get_context(allow_offline=True)
        ws = aml.Workspace.get(name="w", subscription_id="s", resource_group="g")
        ws2 = aml.workspace.Workspace(subscription_id="s", resource_group="g", workspace_name="w")
    """
    assert lines(lint(code)) == [
        (1, "azureml-core-import"),
        (2, "azureml-core-import"),
        (4, "run-get-context"),
        (5, "workspace-object"),
        (6, "workspace-object"),
    ]


def test_names_from_other_libraries_are_not_v1() -> None:
    code = """
        from tensorflow.keras import Model
        from mlflow.tracking import Run


        class Workspace:
            @staticmethod
            def from_config():
                return None


        m = Model.get_model_path("x")
        r = Run.get_context()
        w = Workspace.from_config()
    """
    assert lint(code) == []


def test_ordinary_v2_script_is_clean() -> None:
    code = '''
        """Scoring script that loads the model from AZUREML_MODEL_DIR (mentions azureml-models/)."""
        import json
        import logging
        import os

        import joblib
        from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
        from azureml_inference_server_http.api.aml_response import AMLResponse


        def init():
            global model
            model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model/sklearn_model.pkl")
            model = joblib.load(model_path)
            logging.info("Init complete")


        @rawhttp
        def run(request: AMLRequest, request_headers=None):
            data = json.loads(request.get_data())
            return AMLResponse(json.dumps(model.predict(data["data"]).tolist()), 200)
    '''
    assert lint(code) == []


def test_run_with_request_headers_is_not_flagged() -> None:
    # The v2 server passes request_headers itself when run() asks for them.
    assert lint("def run(data, request_headers):\n    return data\n") == []


def test_model_layout_in_fstring_and_join_but_not_docstring() -> None:
    code = '''
        import os


        def load(name):
            """Reads azureml-models/<name>/<version>/model.pkl in v1."""
            a = f"azureml-models/{name}/1/model.pkl"
            b = os.path.join("/var/azureml-app", "azureml-models", name)
            c = "my-azureml-models-backup"
            return a, b, c
    '''
    assert lines(lint(code)) == [(6, "v1-model-layout"), (7, "v1-model-layout")]
    assert "AZUREML_MODEL_DIR" in lint(code)[0].message


def test_monitoring_and_other_contrib_imports() -> None:
    code = """
        from azureml.monitoring import ModelDataCollector
        import azureml.contrib.functions
        from azureml import core, contrib
    """
    assert lines(lint(code)) == [
        (1, "azureml-monitoring-import"),
        (2, "azureml-contrib-import"),
        (3, "azureml-contrib-import"),
        (3, "azureml-core-import"),
    ]


def test_rawhttp_decorator_via_module_alias() -> None:
    code = """
        from azureml.contrib.services import aml_request as req


        @req.rawhttp
        def run(request):
            return request
    """
    assert lines(lint(code)) == [(1, "azureml-contrib-services"), (4, "rawhttp-decorator")]


def test_imports_inside_functions_count() -> None:
    code = """
        def init():
            from azureml.core.model import Model

            return Model.get_model_path("m")
    """
    assert lines(lint(code)) == [(2, "azureml-core-import"), (4, "model-get-model-path")]


def test_syntax_error_is_a_finding_with_its_line() -> None:
    (finding,) = lint("import os\n\ndef init(:\n    pass\n")
    assert (finding.line, finding.code) == (3, "syntax-error")


def test_null_byte_is_a_syntax_finding() -> None:
    (finding,) = lint_source("score.py", b"import os\x00\n")
    assert finding.code == "syntax-error"


def test_non_utf8_source_is_a_finding_with_its_line() -> None:
    (finding,) = lint_source("score.py", b"import os\n# caf\xe9\nx = 1\n")
    assert (finding.line, finding.code) == (2, "encoding-error")
    assert "0xe9" in finding.message


def test_declared_latin1_source_is_read_as_python_does() -> None:
    source = b"# -*- coding: latin-1 -*-\n# caf\xe9\nfrom azureml.core import Run\n"
    assert lines(lint_source("score.py", source)) == [(3, "azureml-core-import")]


def test_bad_coding_declaration_is_a_finding() -> None:
    (finding,) = lint_source("score.py", b"# -*- coding: no-such-codec -*-\nx = 1\n")
    assert finding.code == "encoding-error"


def test_utf8_bom_is_accepted() -> None:
    assert lint_source("score.py", b"\xef\xbb\xbfimport os\n") == []


def test_lint_files_only_python_sorted_by_path_line_code() -> None:
    files = {
        "src/z.py": b"from azureml.core import Run\nctx = Run.get_context()\n",
        "src/a.py": b"import os\np = 'azureml-models/m/1'\nimport azureml.core\n",
        "src/notes.txt": b"from azureml.core import Run\n",
        "src/conda.yaml": b"dependencies: [azureml-models/]\n",
        "src/broken.py": b"def (\n",
    }
    assert [(f.path, f.line, f.code) for f in lint_files(files)] == [
        ("src/a.py", 2, "v1-model-layout"),
        ("src/a.py", 3, "azureml-core-import"),
        ("src/broken.py", 1, "syntax-error"),
        ("src/z.py", 1, "azureml-core-import"),
        ("src/z.py", 2, "run-get-context"),
    ]


def test_lint_is_deterministic() -> None:
    source = textwrap.dedent(V1_SCRIPT).encode()
    assert lint_source("score.py", source) == lint_source("score.py", source)
