#!/usr/bin/python3
"""check-shapes.py TRACE.jsonl: check every call ecs-local answered against the AWS models that
ship with Debian's python3-botocore (the full, current ECS and ECR models).

For each traced call: a success must carry a response of the operation's output shape (no member
the model does not know, every value of the modelled type, enums respected) and must have
answered a request of the input shape; an error must be a JSON 1.1 error whose __type is one the
operation declares or one the AWS front end answers with (signature, serialization).
Exit status 0 when everything matches, 1 otherwise (each mismatch is printed).
"""
import json
import sys

from botocore.loaders import Loader

COMMON_ERRORS = {
    "UnknownOperationException", "SerializationException", "MissingAuthenticationTokenException",
    "IncompleteSignatureException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "AccessDeniedException", "ThrottlingException", "ValidationException",
}


class Checker:
    def __init__(self, model):
        self.model = model
        self.errors = []

    def fail(self, where, what):
        self.errors.append(f"{where}: {what}")

    def check(self, value, shape_name, where, is_input):
        shape = self.model["shapes"][shape_name]
        kind = shape["type"]
        if kind == "structure":
            if not isinstance(value, dict):
                return self.fail(where, f"expected a structure ({shape_name}), got {type(value).__name__}")
            members = shape.get("members", {})
            for key, item in value.items():
                if key not in members:
                    self.fail(where, f"member '{key}' is not in {shape_name}")
                    continue
                if item is None:
                    continue
                self.check(item, members[key]["shape"], f"{where}.{key}", is_input)
            for key in shape.get("required", []):
                if key not in value:
                    self.fail(where, f"required member '{key}' of {shape_name} is missing")
        elif kind == "list":
            if not isinstance(value, list):
                return self.fail(where, f"expected a list ({shape_name}), got {type(value).__name__}")
            for i, item in enumerate(value):
                if item is None and is_input:
                    continue  # agent v1.16.2 sends null for container states it does not report
                self.check(item, shape["member"]["shape"], f"{where}[{i}]", is_input)
        elif kind == "map":
            if not isinstance(value, dict):
                return self.fail(where, f"expected a map ({shape_name})")
            for key, item in value.items():
                self.check(key, shape["key"]["shape"], f"{where}<key>", is_input)
                self.check(item, shape["value"]["shape"], f"{where}[{key}]", is_input)
        elif kind == "string":
            if not isinstance(value, str):
                return self.fail(where, f"expected a string ({shape_name}), got {value!r}")
            if "enum" in shape and value not in shape["enum"]:
                self.fail(where, f"'{value}' is not one of {shape['enum']}")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(where, f"expected an integer ({shape_name}), got {value!r}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(where, f"expected a boolean ({shape_name}), got {value!r}")
        elif kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(where, f"expected a number ({shape_name}), got {value!r}")
        elif kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(where, f"expected epoch seconds ({shape_name}), got {value!r}")
        elif kind == "blob":
            if not isinstance(value, str):
                self.fail(where, f"expected base64 ({shape_name})")
        else:
            self.fail(where, f"unknown shape type {kind}")


def main():
    loader = Loader()
    models = [loader.load_service_model("ecs", "service-2"), loader.load_service_model("ecr", "service-2")]
    checkers = [Checker(m) for m in models]
    counts = {}
    problems = []
    with open(sys.argv[1]) as f:
        for number, line in enumerate(f, 1):
            entry = json.loads(line)
            if entry.get("kind") != "api":
                continue
            op = entry.get("op", "")
            status = entry.get("status")
            where = f"line {number} {op}"
            model = checker = None
            for m, c in zip(models, checkers):
                if op in m["operations"]:
                    model, checker = m, c
            if model is None:
                if status == 200:
                    problems.append(f"{where}: succeeded but is not an operation of the models")
                continue
            operation = model["operations"][op]
            counts[op] = counts.get(op, 0) + 1
            before = len(checker.errors)
            if status == 200:
                if "output" in operation:
                    checker.check(entry.get("response", {}), operation["output"]["shape"], f"{where} response", False)
                checker.check(entry.get("request", {}), operation["input"]["shape"], f"{where} request", True)
            else:
                body = entry.get("response") or {}
                code = body.get("__type", "")
                code = code.split("#")[-1]
                declared = {e["shape"] for e in operation.get("errors", [])}
                if code not in declared | COMMON_ERRORS:
                    problems.append(f"{where}: error type '{code}' is not declared by {op} ({sorted(declared)})")
                if not isinstance(body.get("message"), str):
                    problems.append(f"{where}: error without a message")
                if status < 400 or status > 599:
                    problems.append(f"{where}: error with HTTP status {status}")
            problems.extend(checker.errors[before:])
    for p in problems:
        print(p)
    total = sum(counts.values())
    print(f"checked {total} calls of {len(counts)} operations against botocore's models: "
          f"{len(problems)} mismatches ({', '.join(sorted(counts))})")
    return 1 if problems or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
