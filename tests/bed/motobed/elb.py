"""Elastic Load Balancing listeners' certificates as AWS reports them.

Plain moto 5.2 keeps Classic (v1) listeners' `SSLCertificateId` and Application/Network (v2)
listeners' certificates, IAM server-certificate ARNs included, and already tells v1 from v2 by the
request's `Version` (2012-06-01 / 2015-12-01; both sign as `elasticloadbalancing`), as AWS does.
It differs in one place, which this rule copies:

- DescribeListeners returns only a listener's default certificate (the `Listener` type:
  "Certificates — [HTTPS or TLS listener] The default certificate for the listener"); the full
  list, the default and the certificates added with AddListenerCertificates, comes from
  DescribeListenerCertificates ("Describes the default certificate and the certificate list for
  the specified HTTPS or TLS listener").
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListeners.html
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Listener.html
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeListenerCertificates.html
  Plain moto's DescribeListeners lists every certificate of the listener.
"""

import copy

from moto.core.responses import ActionResult
from moto.elbv2.exceptions import ListenerOrBalancerMissingError
from moto.elbv2.responses import ELBV2Response


def describe_listeners(self) -> ActionResult:
    load_balancer_arn = self._get_param("LoadBalancerArn")
    listener_arns = self._get_param("ListenerArns", [])
    if not load_balancer_arn and not listener_arns:
        raise ListenerOrBalancerMissingError()
    shown = []
    for listener in self.elbv2_backend.describe_listeners(load_balancer_arn, listener_arns):
        view = copy.copy(listener)  # the backend's listener keeps its full list
        view.certificates = list(listener.certificates[:1])
        shown.append(view)
    return ActionResult({"Listeners": shown})


def apply() -> None:
    ELBV2Response.describe_listeners = describe_listeners
