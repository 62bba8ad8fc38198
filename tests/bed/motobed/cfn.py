"""template.yaml as CloudFormation would render it for one stack: the YAML short tags, the
intrinsic functions the template uses, its Conditions and `AWS::NoValue`.

Only what the bed needs to read the roles' policies (the function's, a member account's), the
archive's bucket policy and the properties test_template.py checks: `Fn::Sub` (both forms), `Ref`,
`Fn::GetAtt`, `Fn::If`, `Fn::Not`, `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Split`,
`Fn::Select`, `Fn::FindInMap` (the template's Mappings), `Condition`. An intrinsic the
template starts using and this module does not know is an error (YAML cannot construct its tag,
or `render` refuses it), never a silent pass. It does not validate the template (`make lint` runs cfn-lint for that).

- Short tags: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html
- Fn::Sub, including `${!Literal}` for a literal `${Literal}`:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-sub.html
- Pseudo parameters (`AWS::Partition` is `aws-cn` in China, `AWS::URLSuffix` `amazonaws.com.cn`):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html
- Conditions: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/conditions-section-structure.html
  (`Fn::And`/`Fn::Or` take 2 to 10 conditions, `Condition` names another condition:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-conditions.html)
- Fn::Select (a list index out of range fails the stack), Fn::FindInMap (a key not in the map fails it):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-select.html
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-findinmap.html
- A role's policies: inline documents, and `!Ref` of an `AWS::IAM::ManagedPolicy` of the template,
  whose value is the policy's ARN and whose grant is its `PolicyDocument`:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-managedpolicy.html
"""

import functools
import re
from pathlib import Path
from typing import Any, Callable

import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
_FUNCTIONS = ("Ref", "Fn::Sub", "Fn::GetAtt", "Fn::If", "Fn::Not", "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Split",
              "Fn::Select", "Fn::FindInMap", "Condition")
NO_VALUE = object()  # what `!Ref AWS::NoValue` renders to: the property or list item disappears


class _Loader(yaml.SafeLoader):
    """SafeLoader with CloudFormation's short tags (`!Sub x` is `{"Fn::Sub": x}`)."""


def _short_tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            # `!GetAtt Resource.Attribute` is the scalar form of ["Resource", "Attribute"].
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}
    return construct


for _fn in _FUNCTIONS:
    _Loader.add_constructor("!" + _fn.removeprefix("Fn::"), _short_tag(_fn))


@functools.lru_cache(maxsize=1)
def template() -> dict:
    """template.yaml, parsed once per bed (the bed restarts for every `make test`)."""
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


class Stack:
    """One deployment of the template: its pseudo parameters, parameter values and the physical
    values of the resources the policies name (`refs`: logical id -> Ref value; `attributes`:
    "LogicalId.Attribute" -> value). A value given as a callable is computed when first used
    (the account secret's ARN is looked up only by the policies that name it)."""

    def __init__(self, *, account: str, region: str, partition: str, name: str,
                 parameters: dict[str, str], refs: dict[str, Any], attributes: dict[str, Any]):
        self.pseudo = {
            "AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": partition,
            "AWS::StackName": name, "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        defaults = {k: str(p.get("Default", "")) for k, p in template().get("Parameters", {}).items()}
        self.parameters = {**defaults, **parameters}
        self.refs = refs
        self.attributes = attributes

    def ref(self, name: str) -> Any:
        for table in (self.pseudo, self.parameters, self.refs):
            if name in table:
                value = table[name]
                return value() if callable(value) else value
        raise KeyError(f"the bed does not know the value of !Ref {name} (motobed/cfn.py Stack)")

    def get_att(self, resource: str, attribute: str) -> Any:
        key = f"{resource}.{attribute}"
        if key not in self.attributes:
            raise KeyError(f"the bed does not know !GetAtt {key} (motobed/cfn.py Stack)")
        value = self.attributes[key]
        return value() if callable(value) else value

    def condition(self, name: str) -> bool:
        return bool(self.render(template()["Conditions"][name]))

    def render(self, node: Any) -> Any:
        """`node` with every intrinsic function resolved; AWS::NoValue items dropped."""
        if isinstance(node, list):
            items = (self.render(item) for item in node)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key in _FUNCTIONS:
                return self._function(key, arg)
            if key.startswith("Fn::"):
                raise ValueError(f"motobed/cfn.py does not render {key}")
        rendered = {k: self.render(v) for k, v in node.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self.ref,
            "Fn::Sub": self._sub,
            "Fn::GetAtt": lambda a: self.get_att(*a),
            "Fn::If": lambda a: self.render(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Not": lambda a: not self.render(a[0]),
            "Fn::Equals": lambda a: self.render(a[0]) == self.render(a[1]),
            "Fn::And": lambda a: all(self.render(c) for c in a),
            "Fn::Or": lambda a: any(self.render(c) for c in a),
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-split.html
            "Fn::Split": lambda a: str(self.render(a[1])).split(self.render(a[0])),
            "Fn::Select": lambda a: self.render(a[1])[int(self.render(a[0]))],
            "Fn::FindInMap": self._find_in_map,
            "Condition": self.condition,
        }
        return handlers[name](arg)

    def _find_in_map(self, arg: list) -> Any:
        name, top, second = (str(self.render(a)) for a in arg)
        mapping = template().get("Mappings", {}).get(name, {})
        if top not in mapping or second not in mapping[top]:
            raise KeyError(f"!FindInMap [{name}, {top}, {second}]: no such entry in the template's Mappings")
        return mapping[top][second]

    def policy_documents(self, policies: list) -> list[dict]:
        """The policy documents a role's list of policies grants: inline documents rendered, and
        `!Ref` of the template's `AWS::IAM::ManagedPolicy` resources replaced by their rendered
        `PolicyDocument` (a Ref of anything else, e.g. an AWS managed policy, is an error)."""
        documents = []
        for item in policies:
            name = item.get("Ref") if isinstance(item, dict) and len(item) == 1 else None
            if name is not None:
                resource = template()["Resources"].get(name) or {}
                if resource.get("Type") != "AWS::IAM::ManagedPolicy":
                    raise KeyError(f"the bed does not know the policy !Ref {name} (motobed/cfn.py policy_documents)")
                item = resource["Properties"]["PolicyDocument"]
            rendered = self.render(item)
            if rendered is not NO_VALUE:
                documents.append(rendered)
        return documents

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.render(arg[1]))

        def one(m: re.Match) -> str:
            inner = m.group(1)
            if inner.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + inner[1:] + "}"
            if inner in local:
                return str(local[inner])
            if "." in inner and not inner.startswith("AWS::"):
                return str(self.get_att(*inner.split(".", 1)))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]*)\}", one, text)
