"""Secrets Manager resource policies over a secret's life, for the bed's authorization rule
(authz.py enforces a secret's resource policy on every request to the secret).

A stack's account secret carries the template's `AWS::SecretsManager::ResourcePolicy` from its
deployment: CloudFormation puts it with the secret
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-resourcepolicy.html).
The bed renders it from template.yaml instead of storing it (authz.stack_secret_policy), so these
rules keep moto's policy operations consistent with that:

- GetResourcePolicy returns the policy in force: the one PutResourcePolicy put, else the
  stack's (plain moto: none until one is put).
- PutResourcePolicy replaces the stack's policy; DeleteResourcePolicy removes whichever is in
  force, the stack's included (a later PutResourcePolicy puts one again).
  https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html
  https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteResourcePolicy.html
"""

import json

from moto.secretsmanager.models import SecretsManagerBackend
from moto.utilities.utils import get_partition

from . import authz

_orig_put = SecretsManagerBackend.put_resource_policy
_orig_get = SecretsManagerBackend.get_resource_policy
_orig_delete = SecretsManagerBackend.delete_resource_policy


def put_resource_policy(self, secret_id: str, policy: str):
    result = _orig_put(self, secret_id, policy)
    self.secrets[secret_id].stack_policy_removed = False
    return result


def delete_resource_policy(self, secret_id: str):
    result = _orig_delete(self, secret_id)
    self.secrets[secret_id].stack_policy_removed = True
    return result


def get_resource_policy(self, secret_id: str) -> str:
    answer = json.loads(_orig_get(self, secret_id))
    secret = self.secrets[secret_id]
    if "ResourcePolicy" not in answer and not getattr(secret, "stack_policy_removed", False):
        stack = authz.stack_secret_policy(secret, self.account_id, self.region_name, get_partition(self.region_name))
        if stack is not None:
            answer["ResourcePolicy"] = json.dumps(stack)
    return json.dumps(answer)


def apply() -> None:
    SecretsManagerBackend.put_resource_policy = put_resource_policy
    SecretsManagerBackend.delete_resource_policy = delete_resource_policy
    SecretsManagerBackend.get_resource_policy = get_resource_policy
