"""Checks an OpenAPI document and responses against it, for tests/openapi.rs.

    validate_openapi.py SPEC.json CASES.json

SPEC.json is the document; it is checked with openapi-spec-validator. CASES.json is a list
of responses to GET requests, each {"path": "/indicators/{id}", "status": 200,
"content_type": "application/json", "body": "FILE"}: the path as the document writes it
(a template), the status and content type received and a file with the body. Each body
is validated against the schema the document gives for that path, status and media type
(openapi-schema-validator, OpenAPI 3.1 dialect); a JSON body is parsed first, any other
body is validated as a string. A status or media type the document does not give for the
path is a failure too.

Prints one JSON object: {"spec_errors": [...], "validated": N, "failures": [{"case": i,
"path": ..., "status": ..., "error": ...}]}. Exits 0 whatever it found: the test asserts.
"""

import json
import sys

from openapi_schema_validator import OAS30Validator, OAS31Validator
from openapi_spec_validator import validate as validate_spec


def media_type(content_type):
    return content_type.split(";", 1)[0].strip().lower()


def schema_for(spec, path, status, content_type):
    """The response schema for a GET of path, or an error message."""
    op = spec.get("paths", {}).get(path, {}).get("get")
    if op is None:
        return None, f"no GET {path} in the document"
    responses = op.get("responses", {})
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if response is None:
        return None, f"GET {path}: status {status} is not documented (documented: {sorted(responses)})"
    wanted = media_type(content_type)
    for name, media in response.get("content", {}).items():
        if media_type(name) == wanted:
            return media.get("schema", {}), None
    return None, f"GET {path} {status}: media type {wanted} is not documented (documented: {sorted(response.get('content', {}))})"


def main():
    spec_file, cases_file = sys.argv[1], sys.argv[2]
    with open(spec_file, encoding="utf-8") as f:
        spec = json.load(f)
    with open(cases_file, encoding="utf-8") as f:
        cases = json.load(f)

    spec_errors = []
    try:
        validate_spec(spec)
    except Exception as e:  # the validator's own error types differ between versions
        spec_errors.append(f"{type(e).__name__}: {e}")

    validator_class = OAS31Validator if str(spec.get("openapi", "")).startswith("3.1") else OAS30Validator
    validated = 0
    failures = []
    for i, case in enumerate(cases):
        fail = lambda error: failures.append({"case": i, "path": case["path"], "status": case["status"], "error": error})
        schema, error = schema_for(spec, case["path"], case["status"], case["content_type"])
        if error:
            fail(error)
            continue
        with open(case["body"], encoding="utf-8") as f:
            text = f.read()
        if media_type(case["content_type"]).endswith("json"):
            try:
                body = json.loads(text)
            except ValueError as e:
                fail(f"the body is not JSON: {e}")
                continue
        else:
            body = text
        # The schema's $refs point into the document's components: resolve them there.
        root = dict(schema)
        root["components"] = spec.get("components", {})
        errors = sorted(validator_class(root).iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            shown = [f"at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:5]]
            fail("; ".join(shown))
            continue
        validated += 1

    json.dump({"spec_errors": spec_errors, "validated": validated, "failures": failures}, sys.stdout)


if __name__ == "__main__":
    main()
