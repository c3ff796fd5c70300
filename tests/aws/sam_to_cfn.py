"""Translates a SAM template to plain CloudFormation, offline, so cfn-lint can check what SAM
alone does not (dangling !Ref / !GetAtt, the generated roles and permissions).

Usage: python sam_to_cfn.py template.yaml out.json
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicies:
    """The managed-policy loader the translator asks for; never calls IAM."""

    def load(self):
        return {}


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # The translator wants packaged code; `sam build` supplies it for real.
            resource.setdefault("Properties", {})["CodeUri"] = "s3://herald-build/code.zip"
    globals_ = template.get("Globals", {}).get("Function", {})
    globals_.pop("CodeUri", None)
    result = transform(template, {"Stage": "dev"}, OfflinePolicies())
    with open(target, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
