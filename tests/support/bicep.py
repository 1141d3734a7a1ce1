"""Parse generated Bicep with pycep-parser and read back the ARM bodies it would send.

pycep parses `.bicep` files; a `.bicepparam` file is parsed after two mechanical rewrites
(the `using` line dropped, `param x = ...` read as `var x = ...`), since pycep has no
grammar for parameter files. pycep leaves string literals as written (escapes and `${...}`
interpolations included), so this module decodes them and evaluates the small expression
subset gen-iac writes: parameter, type and resource references, property and index access,
string interpolation, unary minus, comparisons, `||`, `? :`, lambdas, user-defined functions
and the functions json, readEnvironmentVariable, resourceGroup, subscription, uniqueString,
union, contains, split, items, filter, toObject, loadTextContent and loadJsonContent.
Modules are deployed recursively (each with the parameters its caller passes).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.az import LiveDeployment, LiveEndpoint, Workspace
from tests.support.terraform import DUMMY_ID
from tests.support.upload import empty_workspace, upload_answer

KEYS_ENV = "GEN_IAC_ENDPOINT_KEYS"
UPLOAD_ENV = "GEN_IAC_UPLOAD"  # what upload-bundles.sh prints, read by main.bicepparam
TRAFFIC_MODULE = "endpoint-traffic.bicep"
# Stand-in for the workspace's default datastore (upload-bundles.sh finds the real one).
DATASTORE = {
    "name": "workspaceblobstore",
    "accountName": "stmlwtest",
    "containerName": "azureml-blobstore-test",
    "endpoint": "core.windows.net",
}
DEFAULT_SCOPE = {
    "subscriptionId": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "location": "resource-group-location",
}

_USING = re.compile(r"^using\s+'[^']*'\s*$", re.MULTILINE)
_PARAM = re.compile(r"^param(\s+[A-Za-z_][A-Za-z0-9_]*\s*=)", re.MULTILINE)
_KEY_REF = re.compile(r"endpointKeys\[('(?:[^'\\]|\\.)*')\]")
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


def parse(path: Path) -> dict[str, Any]:
    """pycep's JSON for a .bicep file, or for a .bicepparam file after the rewrites above."""
    return parse_text(path.read_text(encoding="utf-8"), path.suffix == ".bicepparam")


def parse_text(text: str, bicepparam: bool = False) -> dict[str, Any]:
    from pycep import BicepParser

    if bicepparam:
        text = bicepparam_as_bicep(text)
    result: dict[str, Any] = _parser(BicepParser).parse(text=text)
    return result


_PARSERS: dict[type, Any] = {}


def _parser(cls: type) -> Any:
    # Building the Lark parser is the slow part; one instance serves every parse.
    if cls not in _PARSERS:
        _PARSERS[cls] = cls()
    return _PARSERS[cls]


def bicepparam_as_bicep(text: str) -> str:
    if not _USING.search(text):
        raise ValueError("a .bicepparam file must start with a using declaration")
    return _PARAM.sub(r"var\1", _USING.sub("", text, count=1))


def is_reference(node: Any) -> bool:
    """pycep marks identifiers (not quoted strings) as BicepElement."""
    from pycep.models import BicepElement

    return isinstance(node, BicepElement)


def decode_key(raw: str) -> str:
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return "".join(_decode_literal(raw[1:-1]))
    return raw


def _decode_literal(inner: str) -> list[str]:
    """Decode escapes of a string without interpolations (a `${` here is an error)."""
    out: list[str] = []
    for part in _split_template(inner):
        if not isinstance(part, str):
            raise ValueError(f"unexpected interpolation in {inner!r}")
        out.append(part)
    return out


@dataclass(frozen=True)
class _Interpolation:
    source: str


def _split_template(inner: str) -> list[str | _Interpolation]:
    """The literal pieces (escapes decoded) and `${...}` expressions of a string's inside."""
    parts: list[str | _Interpolation] = []
    buf: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\":
            nxt = inner[i + 1]
            if nxt in _ESCAPES:
                buf.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u":
                end = inner.index("}", i)
                if inner[i + 2] != "{":
                    raise ValueError(f"bad unicode escape in {inner!r}")
                buf.append(chr(int(inner[i + 3 : end], 16)))
                i = end + 1
            else:
                raise ValueError(f"unknown escape \\{nxt} in {inner!r}")
        elif c == "'":
            raise ValueError(f"unescaped quote in {inner!r}")
        elif c == "$" and inner[i + 1 : i + 2] == "{":
            depth, j, quoted = 1, i + 2, False
            while depth:
                ch = inner[j]
                if quoted:
                    if ch == "\\":
                        j += 1
                    elif ch == "'":
                        quoted = False
                elif ch == "'":
                    quoted = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(_Interpolation(inner[i + 2 : j - 1]))
            i = j
        else:
            buf.append(c)
            i += 1
    if buf or not parts:
        parts.append("".join(buf))
    return parts


@dataclass
class Evaluator:
    """Evaluates pycep values against named values (params, vars, resource stand-ins)."""

    names: dict[str, Any]
    environ: dict[str, str] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCOPE))
    base: Path = Path(".")  # the folder of the file, for loadTextContent
    functions: dict[str, Any] = field(default_factory=dict)  # user-defined, as pycep parses them

    def __call__(self, node: Any) -> Any:
        if is_reference(node):
            if str(node) not in self.names:
                raise KeyError(f"unknown name {node!s}")
            return self.names[str(node)]
        if isinstance(node, str):
            return self.string(node)
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, list):
            return [self(v) for v in node]
        if isinstance(node, dict):
            if node.get("type") == "lambda_expression" and "detail" in node:
                return self.lambda_(node["detail"])
            if _is_call(node, "function"):
                return self.function(node["function"])
            if _is_call(node, "operator"):
                return self.operator(node["operator"])
            return {decode_key(k): self(v) for k, v in node.items()}
        raise TypeError(f"cannot evaluate {node!r}")

    def string(self, inner: str) -> str:
        out = []
        for part in _split_template(inner):
            if isinstance(part, str):
                out.append(part)
            else:
                value = self(expression(part.source))
                out.append(value if isinstance(value, str) else json.dumps(value))
        return "".join(out)

    def lambda_(self, detail: dict[str, Any]) -> Any:
        variables = [str(v) for k, v in sorted(detail.items()) if k.startswith("var_")]

        def call(*args: Any) -> Any:
            inner = Evaluator(
                {**self.names, **dict(zip(variables, args, strict=True))},
                self.environ,
                self.scope,
                self.base,
                self.functions,
            )
            return inner(detail["expression"])

        return call

    def function(self, call: dict[str, Any]) -> Any:
        if str(call["type"]) in self.functions:
            spec = self.functions[str(call["type"])]
            args = [self(a) for a in (call.get("parameters") or {}).values() if a is not None]
            # A user-defined function sees its arguments only (and other functions).
            inner = Evaluator(
                dict(zip(spec["args"], args, strict=True)),
                {},
                self.scope,
                self.base,
                self.functions,
            )
            return inner(spec["expression"])
        name = str(call["type"]).replace("_", "").lower()
        args = [self(a) for a in (call.get("parameters") or {}).values() if a is not None]
        if name == "json":
            return json.loads(args[0])
        if name == "readenvironmentvariable":
            if args[0] in self.environ:
                return self.environ[args[0]]
            if len(args) > 1:
                return args[1]
            raise KeyError(f"environment variable {args[0]} is not set")
        if name == "resourcegroup":
            return {
                "id": f"/subscriptions/{self.scope['subscriptionId']}/resourceGroups/"
                f"{self.scope['resourceGroup']}",
                "name": self.scope["resourceGroup"],
                "location": self.scope["location"],
            }
        if name == "subscription":
            return {"subscriptionId": self.scope["subscriptionId"]}
        if name == "uniquestring":
            return hashlib.sha256("|".join(args).encode()).hexdigest()[:13]
        if name == "any":
            return args[0]
        if name == "loadtextcontent":
            return (self.base / args[0]).read_text(encoding="utf-8")
        if name == "loadjsoncontent":
            value = json.loads((self.base / args[0]).read_text(encoding="utf-8"))
            path = args[1] if len(args) > 1 else "$"
            for step in path.split(".")[1:]:  # the `$.a.b` subset of JSONPath
                value = value[step]
            return value
        if name == "contains":
            return args[1] in args[0]
        if name == "split":
            return args[0].split(args[1])
        if name == "items":
            return [{"key": k, "value": args[0][k]} for k in sorted(args[0])]
        if name == "filter":
            return [v for v in args[0] if args[1](v)]
        if name == "toobject":
            value_of = args[2] if len(args) > 2 else (lambda v: v)
            return {args[1](v): value_of(v) for v in args[0]}
        if name == "min":
            return min(args)
        if name == "union":
            merged: dict[str, Any] = {}
            for a in args:
                merged.update(a)
            return merged
        raise NotImplementedError(f"function {call['type']}")

    def operator(self, op: dict[str, Any]) -> Any:
        op = _fix_precedence(op)
        kind = op["type"]
        if kind == "minus":
            return -self(next(iter(op["operands"].values())))
        if kind == "add":
            return sum(self(v) for v in op["operands"].values())
        if kind in _COMPARISONS:
            left, right = (self(v) for v in op["operands"].values())
            return _COMPARISONS[kind](left, right)
        if kind == "or":
            return any(self(v) for v in op["operands"].values())
        if kind == "and":
            return all(self(v) for v in op["operands"].values())
        if kind == "conditional":
            operands = op["operands"]
            # Only the chosen branch is evaluated, as ARM's if() does.
            return self(operands["true_value" if self(operands["condition"]) else "false_value"])
        if kind in {"property_accessor", "index_accessor"}:
            value: Any = None
            for n, (what, arg) in enumerate(_chain(op)):
                if n == 0:
                    value = self(arg) if what == "index" else self.names[str(arg)]
                elif what == "name":
                    value = value[str(arg)]
                else:
                    value = value[self(arg)]
            return value
        raise NotImplementedError(f"operator {kind}")


_COMPARISONS: dict[str, Any] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equals": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_than_or_equals": lambda a, b: a <= b,
}


def _fix_precedence(op: dict[str, Any]) -> dict[str, Any]:
    """pycep binds `a.b + c` as `a . (b + c)` (and `a.b > c` as `a . (b > c)`); rebuild it as
    `(a.b) + c`."""
    if op["type"] != "property_accessor":
        return op
    left, right = op["operands"]["operand_1"], op["operands"]["operand_2"]
    if not (isinstance(right, dict) and _is_call(right, "operator")):
        return op
    inner = right["operator"]
    if inner["type"] not in {"add", *_COMPARISONS} or not is_reference(
        inner["operands"]["operand_1"]
    ):
        return op
    access = {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": left, "operand_2": inner["operands"]["operand_1"]},
        }
    }
    return {
        "type": inner["type"],
        "operands": {"operand_1": access, "operand_2": inner["operands"]["operand_2"]},
    }


def _is_call(node: dict[str, Any], kind: str) -> bool:
    inner = node.get(kind)
    return len(node) == 1 and isinstance(inner, dict) and "type" in inner


def _chain(op: dict[str, Any]) -> list[tuple[str, Any]]:
    """Accessor chain as [("name", first), ("name", prop) | ("index", node), ...].

    pycep nests `a.b.c` as a . (b . c) and `a['k'].b` as (a['k']) . b."""
    operands = op["operands"]
    left, right = operands["operand_1"], operands["operand_2"]
    steps = _operand_chain(left)
    if op["type"] == "index_accessor":
        return [*steps, ("index", right)]
    return steps + [
        (("name" if what == "name" else what), arg) for what, arg in _operand_chain(right)
    ]


def _operand_chain(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict) and _is_call(node, "operator"):
        inner = node["operator"]
        if inner["type"] in {"property_accessor", "index_accessor"}:
            return _chain(inner)
    if is_reference(node):
        return [("name", node)]
    return [("index", node)]


def expression(source: str) -> Any:
    """pycep's value for one Bicep expression (e.g. the inside of an interpolation)."""
    return parse_text(f"var x = {source}\n")["variables"]["x"]["value"]


# ---------------------------------------------------------------------------------------------


def param_values(module_dir: Path) -> dict[str, Any]:
    """main.bicepparam as parsed (unevaluated pycep values), by parameter name."""
    parsed = parse(module_dir / "main.bicepparam")
    return {name: spec["value"] for name, spec in parsed.get("variables", {}).items()}


def input_values(module_dir: Path) -> dict[str, Any]:
    """Values standing in for what a user fills in: the same dummy ARM ids as the Terraform
    support module, for every key of every input object param, and test keys for every
    service the templates read from endpointKeys (given as the environment variable)."""
    values: dict[str, Any] = {}
    inputs = module_dir / "inputs.json"
    placeholders = json.loads(inputs.read_text(encoding="utf-8")) if inputs.exists() else {}
    for name, entries in placeholders.items():
        if name.startswith("//"):  # the help text beside each input
            continue
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        kind = snake.removesuffix("_ids") + "s"
        values[name] = {k: DUMMY_ID.format(kind=kind, name=k.replace("/", "-")) for k in entries}
    services = sorted(
        {
            decode_key(m.group(1))
            for path in sorted(module_dir.rglob("*.bicep"))
            for m in _KEY_REF.finditer(path.read_text(encoding="utf-8"))
        }
    )
    if services:
        values["endpointKeys"] = {
            s: {"primaryKey": f"test-primary-{s}", "secondaryKey": f"test-secondary-{s}"}
            for s in services
        }
    return values


def resolved_params(
    module_dir: Path,
    values: dict[str, Any] | None = None,
    scope: dict[str, str] | None = None,
    workspace: Workspace | None = None,
    template: str = "main.bicep",
) -> dict[str, Any]:
    """Parameter values as a deployment would see them: defaults, then main.bicepparam
    (evaluated, with GEN_IAC_ENDPOINT_KEYS from `values` and GEN_IAC_UPLOAD from running
    upload-bundles.sh against `workspace`, what exists in Azure: None is an empty workspace,
    the first deployment), then `values` for the inputs. `template` is the file deployed (with
    its .bicepparam beside it): main.bicep, or a batch module deployed on its own."""
    values = input_values(module_dir) if values is None else values
    scope = {**DEFAULT_SCOPE, **(scope or {})}
    environ: dict[str, str] = {}
    if (module_dir / "upload-bundles.sh").exists():  # run for real, az stood in for
        environ[UPLOAD_ENV] = upload_answer(module_dir, workspace)
    if "endpointKeys" in values:
        environ[KEYS_ENV] = json.dumps(values["endpointKeys"])
    path = module_dir / template
    evaluator = Evaluator({}, environ, scope, path.parent)
    main = parse(path)
    params: dict[str, Any] = {}
    for name, spec in main.get("parameters", {}).items():
        if spec.get("default") is not None:
            params[name] = evaluator(spec["default"])
    for name, raw in parse(path.with_suffix(".bicepparam")).get("variables", {}).items():
        params[name] = evaluator(raw["value"])
    for name, value in values.items():
        if name != "endpointKeys" and name in params:
            params[name] = value
    return params


def bodies(
    module_dir: Path,
    values: dict[str, Any] | None = None,
    scope: dict[str, str] | None = None,
    workspace: Workspace | None = None,
    template: str = "main.bicep",
) -> dict[str, dict[str, Any]]:
    """ARM bodies as the Bicep deployment would send them, keyed like the Terraform support
    module: "endpoint:<name>" (keys split off into "endpoint-secrets:<name>"),
    "deployment:<ep>/<name>", "autoscale:<name>", "code:..."/"environment:...", "traffic:<endpoint>"
    (the traffic module's full PUT). Each entry holds properties (and sku) plus location, tags
    and identity where the resource has them. `scope` gives subscriptionId/resourceGroup/location
    of the deployment; `workspace` what exists in Azure when it runs (None: nothing, the first
    deployment); `template` the file deployed (main.bicep, or a batch module on its own)."""
    scope = {**DEFAULT_SCOPE, **(scope or {})}
    params = resolved_params(module_dir, values, scope, workspace, template)
    found: dict[str, dict[str, Any]] = {}
    deploy(module_dir / template, params, scope, found)
    return found


def deployed(
    module_dir: Path,
    values: dict[str, Any] | None = None,
    scope: dict[str, str] | None = None,
    capacity: dict[str, int] | None = None,
) -> Workspace:
    """The workspace as a deployment of these templates left it: every endpoint with the
    traffic of the traffic step (traffic.json, zeros included) and every deployment with the
    instance count it was created with, or `capacity["<endpoint>/<deployment>"]` (what
    autoscale made of it since)."""
    found = bodies(module_dir, values, scope)
    state = empty_workspace(module_dir)
    for key, body in found.items():
        if not key.startswith("traffic:"):
            continue
        name = key.split(":", 1)[1]
        properties = body["properties"]
        prefix = f"deployment:{name}/"
        state.endpoints.append(
            LiveEndpoint(
                name,
                dict(properties["traffic"]),
                dict(properties.get("mirrorTraffic", {})),
                [
                    LiveDeployment(
                        k.removeprefix(prefix),
                        (capacity or {}).get(k.removeprefix("deployment:"), d["sku"]["capacity"]),
                    )
                    for k, d in found.items()
                    if k.startswith(prefix)
                ],
            )
        )
    return state


def deploy(
    path: Path,
    passed: dict[str, Any],
    scope: dict[str, str],
    found: dict[str, dict[str, Any]],
    traffic_step: bool = False,
) -> dict[str, Any]:
    """Deploy one template as ARM would (parameter checks, resources in dependency order,
    modules recursively), adding the bodies it sends to `found`. Returns the evaluated
    names (params, vars, resources) of the template."""
    parsed = parse(path)
    declared = parsed.get("parameters", {})
    unknown = set(passed) - set(declared)
    if unknown:
        raise ValueError(f"{path.name} has no parameters {sorted(unknown)}")
    defaults = Evaluator({}, {}, scope)
    params = {
        n: defaults(m["default"]) for n, m in declared.items() if m.get("default") is not None
    }
    params.update(passed)
    missing = set(declared) - set(params)
    if missing:
        raise ValueError(f"{path.name} misses parameters {sorted(missing)}")
    check_decorators(parsed, params)
    names: dict[str, Any] = dict(params)
    evaluator = Evaluator(names, {}, scope, path.parent, parsed.get("functions", {}))
    rg_id = f"/subscriptions/{scope['subscriptionId']}/resourceGroups/{scope['resourceGroup']}"
    pending = dict(parsed.get("resources", {}))
    variables = {n: v["value"] for n, v in parsed.get("variables", {}).items()}
    # Resources (and variables) in dependency order: each is evaluated once what it names exists.
    while pending or variables:
        progressed = False
        for var_name, value in list(variables.items()):
            try:
                names[var_name] = evaluator(value)
            except KeyError:
                continue
            del variables[var_name]
            progressed = True
        for symbol, spec in list(pending.items()):
            config = spec["config"]
            try:
                body = {
                    k: evaluator(v) for k, v in config.items() if k not in {"parent", "dependsOn"}
                }
            except KeyError:
                continue
            parent = names.get(str(config["parent"])) if "parent" in config else None
            if "parent" in config and parent is None:
                continue
            kind = spec["type"]
            if kind.endswith("/workspaces"):
                ident = f"{rg_id}/providers/{kind}/{body['name']}"
            elif parent is not None:
                ident = f"{parent['id']}/{kind.rsplit('/', 1)[1]}/{body['name']}"
            else:
                ident = f"{rg_id}/providers/{kind}/{body['name']}"
            names[symbol] = {**body, "id": ident, "name": body["name"]}
            if spec["existing"] and kind.endswith("/datastores"):
                if body["name"] != DATASTORE["name"]:  # ARM: NotFound
                    raise ValueError(f"no datastore {body['name']!r} in the workspace")
                names[symbol]["properties"] = {k: v for k, v in DATASTORE.items() if k != "name"}
            del pending[symbol]
            progressed = True
            if spec["existing"]:
                continue
            name = body.pop("name")
            if kind.endswith("/onlineEndpoints"):
                if traffic_step:
                    found[f"traffic:{name}"] = body
                    continue
                keys = body.get("properties", {}).pop("keys", None)
                found[f"endpoint:{name}"] = body
                if keys is not None:
                    found[f"endpoint-secrets:{name}"] = {"properties": {"keys": keys}}
            elif kind.endswith("/deployments"):
                found[f"deployment:{parent['name'] if parent else '?'}/{name}"] = body
            elif kind.endswith("/versions"):
                asset = "code" if "/codes/" in kind else "environment"
                found[f"{asset}:{parent['name'] if parent else '?'}/{name}"] = body
            else:
                found[f"autoscale:{name}"] = body
        if not progressed:
            raise ValueError(f"cannot resolve {sorted(pending) + sorted(variables)}")
    for spec in parsed.get("modules", {}).values():
        module = path.parent / spec["detail"]["path"]
        deploy(
            module,
            evaluator(spec["config"]["params"]),
            scope,
            found,
            traffic_step=module.name == TRAFFIC_MODULE,
        )
    return names


class ParameterRejected(ValueError):
    """ARM would refuse the deployment: a value breaks its parameter's decorators."""


def check_decorators(parsed: dict[str, Any], params: dict[str, Any]) -> None:
    """What ARM checks before deploying: @allowed, @minValue and @maxValue."""
    for name, spec in parsed.get("parameters", {}).items():
        value = params.get(name)
        for decorator in spec.get("decorators", []):
            kind, argument = decorator.get("type"), decorator.get("argument")
            if (
                (kind == "allowed" and value not in argument)
                or (kind == "min_value" and value < argument)
                or (kind == "max_value" and value > argument)
            ):
                raise ParameterRejected(f"{name} = {value!r} breaks @{kind}({argument!r})")
